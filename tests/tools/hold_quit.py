#!/usr/bin/env python3
"""hold_quit.py PORT_FILE UPSTREAM_PORT HOLD_FILE [CUT_FILE]

A TCP proxy on 127.0.0.1 (a free port, written to PORT_FILE) that passes
SMTP sessions through to 127.0.0.1:UPSTREAM_PORT, except that while
HOLD_FILE exists a client's QUIT, or a session's second MAIL command, is
held: neither passed on nor answered, and HOLD_FILE + ".held" is
created.  The client then sits after the next hop's 250 to its (first)
DATA, waiting for the reply: the moment a test kills it in
(tests/postfix/journal.sh; smimegwd keeps its next-hop connection
between messages, so a two-copy message's second MAIL is where it
waits).  Once HOLD_FILE is gone the command goes on.  While CUT_FILE exists, a session's second MAIL command
closes the session instead (both ways) and CUT_FILE is removed: the
next hop accepted the first copy and fails the second.  Runs until
killed.
"""
import os
import socket
import sys
import threading
import time


def pipe(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def client_to_upstream(cli, up, hold, cut):
    buf = b""
    mails = 0
    mid = False  # buf continues a line already passed on
    try:
        while True:
            b = cli.recv(65536)
            if not b:
                break
            buf += b
            out = b""
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line += b"\n"
                whole, mid = not mid, False
                if whole and line[:5].upper() == b"MAIL ":
                    mails += 1
                    if mails == 2 and cut and os.path.exists(cut):
                        os.unlink(cut)
                        raise OSError("cut")
                if whole and (line.strip().upper() == b"QUIT" or
                              (line[:5].upper() == b"MAIL " and
                               mails >= 2)) and os.path.exists(hold):
                    if out:
                        up.sendall(out)
                        out = b""
                    open(hold + ".held", "w").close()
                    while os.path.exists(hold):
                        time.sleep(0.05)
                out += line
            # Content lines are passed on at once; a partial line waits
            # for its end only when it could be a command.
            if len(buf) > 8:
                out += buf
                buf = b""
                mid = True
            if out:
                up.sendall(out)
        if buf:
            up.sendall(buf)
    except OSError:
        pass
    for s in (cli, up):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(cli, upstream_port, hold, cut):
    try:
        up = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        cli.close()
        return
    threading.Thread(target=pipe, args=(up, cli), daemon=True).start()
    client_to_upstream(cli, up, hold, cut)


def main():
    port_file, upstream_port, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cut = sys.argv[4] if len(sys.argv) > 4 else None
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    while True:
        cli, _ = ls.accept()
        threading.Thread(target=serve, args=(cli, upstream_port, hold, cut),
                         daemon=True).start()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""faults_send.py PORT COUNT SECONDS SEED EXPECT_FILE DOMAIN USERS...

Sends COUNT messages to the SMTP server on 127.0.0.1:PORT, paced evenly
over SECONDS, each its own transaction with 1 to 3 random recipients of
USERS@DOMAIN and a unique Message-ID <fault-SEED-N@DOMAIN>; about one in
ten is 100 to 300 KB (spooled to a file by smimegwd), one in a hundred
is past 1 MB (over smimegwd's SIZE: Postfix bounces it).  A refused or
failed transaction is tried again (a new connection) up to 20 times.
Writes "MESSAGE-ID RECIPIENT SIZE-CLASS" per recipient to EXPECT_FILE,
for tests/postfix/faults.sh.
"""
import random
import smtplib
import sys
import time


def body(rng, kind):
    if kind == "big":
        n = rng.randint(100, 300) * 1024
    elif kind == "huge":
        n = 1200 * 1024
    else:
        n = rng.randint(200, 4000)
    line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ")
                   for _ in range(76))
    out = []
    while n > 0:
        out.append(line)
        n -= 78
    return "\r\n".join(out) + "\r\n"


def main():
    port, count, secs, seed = (int(sys.argv[1]), int(sys.argv[2]),
                               float(sys.argv[3]), int(sys.argv[4]))
    expect, domain, users = sys.argv[5], sys.argv[6], sys.argv[7:]
    rng = random.Random(seed)
    conn = None
    start = time.time()
    with open(expect, "w") as ex:
        for i in range(count):
            due = start + secs * i / count
            if time.time() < due:
                time.sleep(due - time.time())
            r = rng.random()
            kind = "huge" if r < 0.01 else "big" if r < 0.1 else "small"
            rcpts = ["%s@%s" % (u, domain)
                     for u in rng.sample(users, rng.randint(1, 3))]
            mid = "<fault-%d-%d@%s>" % (seed, i, domain)
            msg = ("From: sender@%s\r\nTo: %s\r\nSubject: fault %d\r\n"
                   "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s"
                   % (domain, ", ".join(rcpts), i, mid,
                      body(rng, kind)))
            for attempt in range(20):
                try:
                    if conn is None:
                        conn = smtplib.SMTP("127.0.0.1", port, timeout=60)
                        conn.ehlo("client.test")
                    conn.sendmail("sender@" + domain, rcpts, msg)
                    break
                except (smtplib.SMTPException, OSError) as e:
                    sys.stderr.write("message %d, try %d: %s\n"
                                     % (i, attempt + 1, e))
                    try:
                        if conn is not None:
                            conn.close()
                    except OSError:
                        pass
                    conn = None
                    time.sleep(1)
            else:
                sys.exit("message %d could not be sent" % i)
            for rc in rcpts:
                ex.write("%s %s %s\n" % (mid, rc, kind))
            ex.flush()
    if conn is not None:
        conn.quit()


if __name__ == "__main__":
    main()

"""Drives the MX tier with Python's smtplib and checks every reply code.

Usage: smtplib_codes.py HOST PORT
Prints one line per check; exits non-zero on the first wrong answer.
"""
import smtplib
import ssl
import sys

host, port = sys.argv[1], int(sys.argv[2])
MSG = b"From: py@remote.example\r\nSubject: smtplib\r\n\r\nHello from smtplib.\r\n"


def check(what, got, want):
    code, text = got
    ok = str(code) == want[:3] and text.decode(errors="replace").startswith(want[4:])
    print(("ok   " if ok else "FAIL ") + what + ": " + str(code) + " " + text.decode(errors="replace"))
    if not ok:
        sys.exit(1)


def session():
    s = smtplib.SMTP(host, port, timeout=30)
    s.ehlo("py.remote.example")
    return s


s = session()
for ext in ["pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "starttls", "chunking", "size"]:
    if not s.has_extn(ext):
        print("FAIL EHLO lacks " + ext)
        sys.exit(1)
if s.has_extn("auth"):
    print("FAIL EHLO offers AUTH")
    sys.exit(1)
check("MAIL", s.mail("py@remote.example"), "250 2.0.0")
check("active", s.rcpt("shop@x1.example.test"), "250 2.0.0")
check("unknown", s.rcpt("nobody@x1.example.test"), "550 5.1.1")
check("suspended", s.rcpt("paused@x2.example.test"), "550 5.2.1")
check("relay", s.rcpt("someone@elsewhere.example"), "550 5.7.1")
check("DATA", s.data(MSG), "250 2.0.0")

# Too many recipients: the 101st gets 452 4.5.3 (RFC 5321 4.5.3.1.10).
check("MAIL", s.mail("py@remote.example"), "250 2.0.0")
for i in range(100):
    code, _ = s.rcpt("bank@x1.example.test")
    if code != 250:
        print("FAIL recipient %d: %d" % (i, code))
        sys.exit(1)
check("101st recipient", s.rcpt("bank@x1.example.test"), "452 4.5.3")
s.rset()

# Declared and actual oversize.
check("SIZE too big", s.mail("py@remote.example", ["SIZE=999999999"]), "552 5.3.4")
check("MAIL", s.mail("py@remote.example"), "250 2.0.0")
check("RCPT", s.rcpt("shop@x1.example.test"), "250 2.0.0")
big = b"Subject: big\r\n\r\n" + (b"x" * 900 + b"\r\n") * 60000
# smtplib returns the end-of-data reply rather than raising.
check("oversize DATA", s.data(big), "552 5.3.4")
s.quit()

# STARTTLS, then a delivery over TLS.
s = session()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
check("STARTTLS", s.starttls(context=ctx), "220 2.0.0")
s.ehlo("py.remote.example")
check("MAIL over TLS", s.mail("py@remote.example"), "250 2.0.0")
check("RCPT over TLS", s.rcpt("family@home.example.test"), "250 2.0.0")
check("DATA over TLS", s.data(MSG), "250 2.0.0")
s.quit()
print("all checks passed")

"""Drives the IMAP server with Python's imaplib; exits non-zero on the first
failed check. Usage: imaplib_client.py HOST PORT USER PASSWORD"""
import imaplib
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


def ok(res, what):
    typ, data = res
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


m = imaplib.IMAP4(host, port)
ok(m.login(user, password), "login")
boxes = ok(m.list(), "list")
check(any(b"INBOX" in b for b in boxes), "INBOX listed: %r" % boxes)
ok(m.create("Archive2"), "create")

msg = (b"From: py@example.test\r\nTo: alice@example.test\r\nSubject: hello from python\r\n"
       b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
       b"first part\r\n--B\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--B--\r\n")
data = ok(m.append("INBOX", r"(\Flagged)", None, msg), "append")
check(b"APPENDUID" in data[0], "APPENDUID in %r" % data)
for i in range(3):
    ok(m.append("INBOX", None, None, b"Subject: filler %d\r\n\r\nfiller body\r\n" % i), "append filler")

data = ok(m.select("INBOX"), "select")
check(data[0] == b"4", "4 messages, got %r" % data)
data = ok(m.search(None, "SUBJECT", '"hello from python"'), "search subject")
check(data[0] == b"1", "search subject: %r" % data)
data = ok(m.search(None, "FLAGGED"), "search flagged")
check(data[0] == b"1", "search flagged: %r" % data)
data = ok(m.uid("SEARCH", None, "BODY", "filler"), "uid search body")
check(data[0] == b"2 3 4", "uid search body: %r" % data)

data = ok(m.fetch("1", "(BODY.PEEK[2] BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "fetch sections")
check(data[0][1] == b"second part", "BODY[2]: %r" % data)
check(data[1][1] == b"Subject: hello from python\r\n\r\n", "HEADER.FIELDS: %r" % data)
data = ok(m.fetch("1", "(RFC822)"), "fetch rfc822")
check(data[0][1] == msg, "RFC822 round trip")
data = ok(m.fetch("1", "(FLAGS)"), "fetch flags")
check(b"\\Seen" in data[0] and b"\\Flagged" in data[0], "flags after RFC822: %r" % data)

ok(m.store("2", "+FLAGS", r"(\Deleted)"), "store")
ok(m.copy("1", "Archive2"), "copy")
typ, data = m._simple_command("MOVE", "3", "Archive2")
check(typ == "OK", "move: %s %r" % (typ, data))
# MOVE reports the moved message's EXPUNGE (RFC 6851 3.3); imaplib keeps
# it with the untagged responses, so collect it here, before EXPUNGE's own.
typ, data = m.response("EXPUNGE")
check(data == [b"3"], "move reported expunge %r" % data)
data = ok(m.expunge(), "expunge")
check(data == [b"2"], "expunge reported %r" % data)
data = ok(m.status("Archive2", "(MESSAGES)"), "status")
check(b"MESSAGES 2" in data[0], "status: %r" % data)

# IDLE: a second connection appends; the first sees EXISTS.
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
line = m.readline()
check(line.startswith(b"+"), "IDLE continuation: %r" % line)
other = imaplib.IMAP4(host, port)
ok(other.login(user, password), "second login")
ok(other.append("INBOX", None, None, b"Subject: pushed\r\n\r\npushed\r\n"), "append during idle")
m.sock.settimeout(5)
line = m.readline()
check(line.strip() == b"* 3 EXISTS", "IDLE push: %r" % line)
m.send(b"DONE\r\n")
line = m.readline()
check(line.startswith(tag + b" OK"), "IDLE end: %r" % line)
m.sock.settimeout(None)
other.logout()
m.logout()
print("imaplib: all checks passed")

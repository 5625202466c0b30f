#!/usr/bin/env python3
"""Writes seed inputs for tern's fuzz targets: OUT/<target>/<name> for xml, jid, sasl, conf.

The input formats are those described at the top of each tests/fuzz/fuzz_<target>.c. Seeds are
plain, valid-looking protocol data plus the known-bad shapes (DOCTYPE, entities, deep nesting,
over-long parts), so that the fuzzer starts next to both the accepting and the refusing paths.
`make fuzz` runs this into build/fuzz/seeds; the checked-in tests/fuzz/corpus holds a minimized
set that `make unit` replays.

Usage: gen_seeds.py OUT
"""

import base64
import hashlib
import os
import sys

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' "
          "xml:lang='en'>")
CLOSE = "</stream:stream>"

STANZAS = [
    "<message to='juliet@example.com/balcony' type='chat' id='m1'><body>Wherefore art thou?"
    "</body></message>",
    "<presence><show>away</show><status>at the ball</status><priority>5</priority></presence>",
    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r"
    "</resource></bind></iq>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>",
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA="
    "</auth>",
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "<message xml:lang='fr' xmlns:x='urn:x' x:a='1' x:b='2'><body>caf\u00e9 &amp; &lt;tag&gt; "
    "&#x1F600; &#65;</body><x:thing x:c='&quot;q&apos;'/></message>",
    "<message><body><![CDATA[<not a tag> & stuff]]></body></message>",
    "<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish "
    "node='urn:xmpp:avatar:metadata'><item id='abc'><metadata xmlns='urn:xmpp:avatar:metadata'>"
    "<info bytes='123' id='abc' type='image/png'/></metadata></item></publish></pubsub></iq>",
    "<r xmlns='urn:xmpp:sm:3'/>",
    "<a xmlns='urn:xmpp:sm:3' h='4294967295'/>",
    "<message>\r\n<body>line\r\nbreaks\ttabs</body>\r\n</message>",
    "<message to='a@b' attr='tab\there' other=\"dq 'sq'\"/>",
]

BAD_STREAMS = [
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 "
    "'&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]><lolz>&lol2;</lolz>",
    HEADER + "<!-- comment -->",
    HEADER + "<?pi data?>",
    HEADER + "<message><body>&undefined;</body></message>",
    HEADER.encode() + b"<message><body>\xff\xfe\xc3</body></message>",
    HEADER + "text at the top level",
    HEADER + "<message>" + "<x>" * 40 + "</x>" * 40 + "</message>",
    HEADER + "<message " + " ".join(f"a{i}='{i}'" for i in range(80)) + "/>",
    HEADER + "<message><body>" + "x" * 3000 + "</body></message>",
    HEADER + "<message to='" + "y" * 3000,
    HEADER + "<p:message xmlns:p='jabber:client'/><q:x/>",
    HEADER + "<message></mess>",
    "<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER[21:] + "<message/>",
    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'" + " " * 2000,
    HEADER + " \n\t " * 200 + "<message/>" + CLOSE + "<after/>",
]


def xml_seeds():
    streams = [HEADER + "".join(STANZAS) + CLOSE, HEADER, HEADER + " " + CLOSE]
    streams += [HEADER + s for s in STANZAS]
    streams += BAD_STREAMS
    seeds = {}
    for i, s in enumerate(streams):
        data = s if isinstance(s, bytes) else s.encode()
        # byte 0: limits and callback mode, byte 1: split seed (see fuzz_xml.c)
        for mode in (0x03, 0x10 if i % 2 else 0x23, 0x4c, 0xf0):
            seeds[f"stream{i:02d}-m{mode:02x}"] = bytes([mode, (i * 37) & 0xff]) + data
    return seeds


JIDS = [
    "juliet@example.com/balcony", "example.com", "example.com/res", "a@b/c/d",
    "example.com/x@y", "u@d/a@b/c", "Juliet@Example.COM./Balcony", "[::1]", "user@[2001:db8::1]/r",
    "caf\u00e9@\u00e9xample.com/\u2603", "a@b@c", "@example.com", "user@example.com/", "user@/res",
    "/res", "", "user@", "a b@example.com", "a\"b@example.com", "a@ex ample.com", "a@.example.com",
    "a@example..com", "a@[::1", "a@]", "a@[zz]", "user@example.com/\u0007bell",
    "u\u00a0@example.com", "a" * 1023 + "@example.com", "a" * 1024 + "@example.com",
    "d" * 1023, "u@example.com/" + "r" * 1024, b"\xc0\x80@example.com", b"\xed\xa0\x80@x",
    b"\xf4\x90\x80\x80@x", b"u@example.com/\xe2\x82",
]


def jid_seeds():
    seeds = {}
    for i, j in enumerate(JIDS):
        seeds[f"jid{i:02d}"] = j if isinstance(j, bytes) else j.encode()
    seeds["parts-local-domain-res"] = b"juliet\0example.com\0balcony"
    seeds["parts-domain"] = b"example.com"
    seeds["parts-empty-local"] = b"\0example.com"
    return seeds


def sasl_seeds():
    sep = b"\xff"
    firsts = [b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", b"y,,n=user,r=abc",
              b"n,a=user,n=user,r=abc", b"n,a=user@example.com,n=user,r=abc",
              b"n,a=other,n=user,r=abc", b"p=tls-unique,,n=user,r=abc",
              b"n,,n=us=2Cer=3D,r=abc,x=ext", b"n,,m=ext,n=user,r=abc", b"n,,n=,r=abc",
              b"n,,n=user,r=" + b"N" * 96, b"n,,n=user=2,r=abc"]
    finals = [b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
              b"c=biws,r=abc3rfcNHYJY1ZVvWVs7j,x=1,p=AAAA", b"c=eSws,r=abc,p=",
              b"c=biws,p=AAAA,r=abc"]
    seeds = {}
    for hash_bit in (0, 4):
        for unknown in (0, 8):
            m = hash_bit | unknown
            for i, f in enumerate(firsts):
                for k, fin in enumerate(finals):
                    seeds[f"scram-m{m:02x}-{i:02d}-{k}"] = bytes([m]) + f + sep + sep + fin
                seeds[f"scram-m{m:02x}-{i:02d}-nonce"] = bytes([m]) + f + sep + b"srv,nonce" + sep
                seeds[f"proof-m{m | 1:02x}-{i:02d}"] = bytes([m | 1]) + f + sep + b"pencil"
            seeds[f"proof-m{m | 1:02x}-utf8"] = (bytes([m | 1]) + b"n,,n=user,r=abc" + sep
                                                 + "p\u00e4ss".encode())
    for i, p in enumerate([b"\0user\0pencil", b"authz\0user\0pencil", b"\0user\0wrong",
                           b"\0\0pencil", b"\0user\0", b"\0user\0pen\0cil", b"user"]):
        seeds[f"plain{i}"] = bytes([2]) + p
    for i, b in enumerate([b"", b"=", b"AA==", b"AAA=", b"AAAA", b"AB==", b"QUJD", b"QQ==",
                           b"Q===", b" QQ==", base64.b64encode(hashlib.sha256(b"x").digest())]):
        seeds[f"b64-{i:02d}"] = bytes([3]) + b
    return seeds


CONFS = [
    "domain = example.org\ndata_dir = /tmp/tern\n",
    "; comment\n# comment\ndomain = Example.ORG.\ndata_dir = ./var\nworkers = 2\n\n[c2s]\n"
    "bind = ::\nport = 5222\ntls_port = 0\nrequire_tls = no\n\n[limits]\nmax_stanza = 256k\n"
    "max_out = 1m\nmax_depth = 8\n\n[log]\nlevel = DEBUG\n",
    "domain = example.org\n[auth]\nscram_iterations = 4096\nplain = off\n[tls]\ncert = /x.pem\n"
    "key = /y.pem\n[store]\npath = /tmp/t.db\n",
    "domain = example.org\n[c2s]\nport = 5222\ntls_port = 5222\n",
    "domain = example.org\n[limits]\nmax_out = 65536\nmax_stanza = 1m\n",
    "domain = a@b\n", "domain = \"quoted\"\n", "domain = ex ample.org\n", "[c2s\nport = 1\n",
    "[]\n", "[nosuch]\nkey = v\n", "domain = example.org\n  continued\n", "port = 5222\n",
    "domain = example.org\nworkers = 99999999999999999999\n", "domain\n", "= value\n",
    b"\xef\xbb\xbfdomain = example.org\n", b"domain = example.org\n[c2s]\nbind = \xfe\n",
    "domain = example.org\n" + "x" * 300 + " = 1\n",
    "domain = example.org\n[roster]\nmax_items = 0\n[sm]\nresume_timeout = 86400\n",
    "domain = example.org\n[register]\nenabled = true\n[archive]\nretention_days = 36500\n",
]


def conf_seeds():
    seeds = {}
    for i, c in enumerate(CONFS):
        seeds[f"conf{i:02d}"] = c if isinstance(c, bytes) else c.encode()
    seeds["overrides"] = (b"domain = example.org\n\xffc2s.port=5333\nlimits.max_stanza = 2k\n"
                          b"log.level=warn\nnosuch=1\nworkers")
    seeds["override-domain"] = b"\xffdomain=example.net\ndata_dir=/tmp"
    return seeds


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for target, seeds in (("xml", xml_seeds()), ("jid", jid_seeds()), ("sasl", sasl_seeds()),
                          ("conf", conf_seeds())):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"gen_seeds: {len(seeds)} seeds in {d}")


if __name__ == "__main__":
    main()

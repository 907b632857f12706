#!/usr/bin/env python3
"""A strict stand-in for Grafana Pyroscope's ingest API, for tests/t_push.sh.

POST /ingest?name=APP{labels}&from=&until=&format=pprof[&spyName=] with a
multipart/form-data body: a file field `profile` (a gzip'd profile.proto)
and an optional file field `sample_type_config` (JSON, as the API documents
it). Anything the real API would refuse is answered 400 and logged; each
accepted profile is saved as DIR/N.pb.gz with its query as DIR/N.json.

    pyroscope_recv.py DIR PORTFILE [MODE]
MODE: ok (default), fail (every push answered 500), slow (an answer
after 30 s). The port it listens on (127.0.0.1) is written to PORTFILE.
"""
import email.parser
import email.policy
import gzip
import json
import re
import sys
import time
import urllib.parse
from http.server import HTTPServer, BaseHTTPRequestHandler

DIR, PORTFILE = sys.argv[1], sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "ok"
NAME = re.compile(r'^[A-Za-z0-9_.\-]+\{([A-Za-z_][A-Za-z0-9_.]*=[^,{}="]*'
                  r'(,[A-Za-z_][A-Za-z0-9_.]*=[^,{}="]*)*)?\}$')
TYPE_KEYS = {"units", "aggregation", "display-name", "sampled"}
count = 0


def refuse(why):
    raise ValueError(why)


def check_query(q):
    for k in q:
        if k not in ("name", "from", "until", "format", "spyName", "sampleRate",
                     "units", "aggregationType"):
            refuse("unknown parameter " + k)
    for k in ("name", "from", "until", "format"):
        if k not in q or len(q[k]) != 1:
            refuse("parameter %s missing or repeated" % k)
    if not NAME.match(q["name"][0]):
        refuse("bad name " + q["name"][0])
    if not (q["from"][0].isdigit() and q["until"][0].isdigit()):
        refuse("from and until must be Unix seconds")
    if int(q["from"][0]) > int(q["until"][0]):
        refuse("from after until")
    if q["format"][0] != "pprof":
        refuse("format must be pprof here")


def check_types(raw):
    cfg = json.loads(raw)
    if not isinstance(cfg, dict) or not cfg:
        refuse("sample_type_config must be a non-empty object")
    for name, t in cfg.items():
        if not isinstance(t, dict) or set(t) - TYPE_KEYS:
            refuse("bad sample type " + name)
        if t.get("units", "samples") not in ("samples", "objects", "bytes"):
            refuse("bad units for " + name)
        if t.get("aggregation", "sum") not in ("sum", "average"):
            refuse("bad aggregation for " + name)
        if not isinstance(t.get("sampled", False), bool):
            refuse("sampled must be a boolean")
    return cfg


def parse_body(ctype, body):
    if not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
        refuse("not multipart/form-data")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name not in ("profile", "sample_type_config", "prev_profile") or name in fields:
            refuse("unexpected or repeated field %r" % name)
        if part.get_filename() is None:
            refuse("field %s must be a file" % name)
        fields[name] = part.get_payload(decode=True)
    if "profile" not in fields:
        refuse("no profile field")
    if fields["profile"][:2] != b"\x1f\x8b" or not gzip.decompress(fields["profile"]):
        refuse("the profile is not gzip'd")
    if "sample_type_config" in fields:
        check_types(fields["sample_type_config"])
    return fields


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(405, "ingest takes POST\n")

    def do_POST(self):
        global count
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if MODE == "slow":
            time.sleep(30)
        if MODE == "fail":
            return self.answer(500, "internal error\n")
        try:
            if url.path != "/ingest":
                refuse("path " + url.path)
            q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            check_query(q)
            fields = parse_body(self.headers.get("Content-Type", ""), body)
        except Exception as e:  # every refusal is logged for the test
            with open("%s/refused.log" % DIR, "a") as f:
                f.write("%s\n" % e)
            return self.answer(400, "%s\n" % e)
        count += 1
        with open("%s/%d.pb.gz" % (DIR, count), "wb") as f:
            f.write(fields["profile"])
        q["auth"] = [self.headers.get("Authorization", "")]
        q["types"] = [fields.get("sample_type_config", b"").decode()]
        with open("%s/%d.json" % (DIR, count), "w") as f:
            json.dump(q, f)
        self.answer(200, "")


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()

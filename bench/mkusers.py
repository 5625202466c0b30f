#!/usr/bin/python3
"""Writes the same benchmark accounts for tern, Prosody and ejabberd.

  mkusers.py N PREFIX PASSWORD SALT ITERATIONS DOMAIN OUTDIR

OUTDIR/tern-users.txt    lines 'PREFIXi PASSWORD' for `ternctl user import --salt SALT`
OUTDIR/prosody/DOMAIN/accounts/PREFIXi.dat
                         Prosody's internal_hashed account files (SCRAM-SHA-1 keys with
                         SALT and ITERATIONS): its data_path, also read by ejabberd's
                         `ejabberdctl import_prosody`.

Every account of every server then has the same salt and iteration count, so tern-bench
derives its SCRAM key once per run whichever server it measures. Benchmark accounts only.
"""
import hashlib
import hmac
import os
import sys


def scram_sha1(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored_key = hashlib.sha1(client_key).hexdigest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).hexdigest()
    return stored_key, server_key


def prosody_encode(s):
    # Prosody's datamanager encodes path parts: anything but [%w_] becomes %XX
    return "".join(c if c.isalnum() or c == "_" else "%%%02x" % ord(c) for c in s)


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    n, prefix, password, salt, iters, domain, out = sys.argv[1:]
    n, iters = int(n), int(iters)
    stored, server = scram_sha1(password, salt, iters)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tern-users.txt"), "w") as f:
        for i in range(1, n + 1):
            f.write(f"{prefix}{i} {password}\n")
    acc = os.path.join(out, "prosody", prosody_encode(domain), "accounts")
    os.makedirs(acc, exist_ok=True)
    body = ("return {\n"
            f"\t[\"iteration_count\"] = {iters};\n"
            f"\t[\"salt\"] = {lua_string(salt)};\n"
            f"\t[\"server_key\"] = {lua_string(server)};\n"
            f"\t[\"stored_key\"] = {lua_string(stored)};\n"
            "};\n")
    for i in range(1, n + 1):
        with open(os.path.join(acc, prosody_encode(f"{prefix}{i}") + ".dat"), "w") as f:
            f.write(body)


if __name__ == "__main__":
    main()

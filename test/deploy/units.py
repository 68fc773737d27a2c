#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads systemd unit files the way systemd does (sections, repeated keys,
an empty assignment resetting a list) and checks what docs/deploy.md
promises of Guarder's units. Also a library for units.sh: `units.py get
UNIT SECTION KEY` prints a key's effective value (space-joined list)."""
import os
import re
import subprocess
import sys

LIST_KEYS = {"AmbientCapabilities", "CapabilityBoundingSet", "RestrictAddressFamilies",
             "SystemCallFilter", "ReadWritePaths", "After", "Wants", "Requires",
             "Before", "ExecStartPre", "WantedBy", "Documentation", "EnvironmentFile"}


def parse(path):
    """{section: {key: [values in order]}}; continuation lines joined."""
    units = {}
    section = None
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if m:
            section = units.setdefault(m.group(1), {})
            continue
        if section is None or "=" not in line:
            raise SystemExit(f"{path}:{n}: not a key=value line in a section: {line}")
        key, value = (s.strip() for s in line.split("=", 1))
        section.setdefault(key, []).append(value)
    return units


def values(unit, section, key):
    """The effective list: an empty assignment resets what came before."""
    out = []
    for v in unit.get(section, {}).get(key, []):
        if v == "":
            out = []
        else:
            out.extend(v.split() if key in LIST_KEYS and not key.startswith("Exec") else [v])
    return out


def one(unit, section, key):
    v = unit.get(section, {}).get(key, [])
    return v[-1] if v else None


class Checker:
    def __init__(self):
        self.failures = 0

    def expect(self, what, ok, detail=""):
        if ok:
            print(f"  ok: {what}")
        else:
            print(f"FAIL: {what} {detail}", file=sys.stderr)
            self.failures += 1


# What each unit must grant: the capabilities measured by units.sh, nothing
# more, and what each one must be ordered after.
CAPS = {
    "guarder-collector": {"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"},
    "guarder-api": {"CAP_BPF"},
    "guarder-ai": set(),
}
AFTER = {"guarder-api": "guarder-collector.service", "guarder-ai": "guarder-api.service"}
FAMILIES = {
    "guarder-collector": {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"},
    "guarder-api": {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"},
}


def check(unit_dir, sbindir, libexecdir):
    c = Checker()
    for name in CAPS:
        path = os.path.join(unit_dir, name + ".service")
        print(f"{name}.service")
        u = parse(path)
        svc = "Service"
        c.expect("ExecStart runs the installed binary with the config",
                 re.fullmatch(rf"{re.escape(sbindir)}/{name} -c \S+/guarder/guarder\.yaml",
                              one(u, svc, "ExecStart") or ""), one(u, svc, "ExecStart"))
        c.expect("Restart=on-failure", one(u, svc, "Restart") == "on-failure")
        user = one(u, svc, "User")
        c.expect("a dedicated user, never root",
                 (user and user != "root") or one(u, svc, "DynamicUser") == "yes", user)
        amb, bound = set(values(u, svc, "AmbientCapabilities")), set(
            values(u, svc, "CapabilityBoundingSet"))
        c.expect(f"capabilities exactly {sorted(CAPS[name]) or 'none'}",
                 amb == CAPS[name] and bound == CAPS[name], f"ambient {amb} bounding {bound}")
        for key, want in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                          ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                          ("PrivateDevices", "yes"), ("ProtectKernelModules", "yes"),
                          ("ProtectControlGroups", "yes"), ("RestrictNamespaces", "yes"),
                          ("LockPersonality", "yes"), ("MemoryDenyWriteExecute", "yes"),
                          ("SystemCallArchitectures", "native")]:
            c.expect(f"{key}={want}", one(u, svc, key) == want, one(u, svc, key))
        scf = values(u, svc, "SystemCallFilter")
        c.expect("SystemCallFilter allows @system-service", "@system-service" in scf, scf)
        fams = set(values(u, svc, "RestrictAddressFamilies"))
        c.expect("RestrictAddressFamilies set, no AF_PACKET",
                 fams and "AF_PACKET" not in fams and not any(f.startswith("~") for f in fams),
                 fams)
        if name in FAMILIES:
            c.expect(f"RestrictAddressFamilies {sorted(FAMILIES[name])}",
                     fams == FAMILIES[name], fams)
        if CAPS[name] & {"CAP_BPF", "CAP_SYS_ADMIN"}:
            c.expect("the bpf() syscall allowed", "bpf" in scf, scf)
            c.expect("bpffs writable under ProtectSystem=strict",
                     "/sys/fs/bpf" in values(u, svc, "ReadWritePaths"))
            c.expect("RuntimeDirectory=guarder (collector.stats_file), kept across restarts",
                     one(u, svc, "RuntimeDirectory") == "guarder"
                     and one(u, svc, "RuntimeDirectoryPreserve") == "yes")
            c.expect("StateDirectory=guarder (rules.file)",
                     one(u, svc, "StateDirectory") == "guarder")
            pre = values(u, svc, "ExecStartPre")
            c.expect("ExecStartPre=+ guarder-prepare (bpffs, pin dir) as root",
                     any(p.startswith(f"+{libexecdir}/guarder/guarder-prepare ") for p in pre),
                     pre)
        else:
            c.expect("no bpf() syscall", "bpf" not in scf, scf)
        if name in AFTER:
            c.expect(f"started after {AFTER[name]} (After= and Wants=)",
                     AFTER[name] in values(u, "Unit", "After")
                     and AFTER[name] in values(u, "Unit", "Wants"))
        else:
            c.expect("ordered after nothing of ours",
                     not any(a.startswith("guarder") for a in values(u, "Unit", "After")))
        c.expect("enabled by multi-user.target",
                 "multi-user.target" in values(u, "Install", "WantedBy"))
    return c.failures


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(1 if check(*sys.argv[2:]) else 0)
    if len(sys.argv) == 5 and sys.argv[1] == "get":
        print(" ".join(values(parse(sys.argv[2]), sys.argv[3], sys.argv[4])))
        return
    sys.exit("usage: units.py check UNIT_DIR SBINDIR LIBEXECDIR | get UNIT SECTION KEY")


if __name__ == "__main__":
    main()

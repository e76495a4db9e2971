#!/usr/bin/env python3
"""configs/tern.schema.json against the examples and against the loader (`tern --check-config`).

  schema_test.py --schema configs/tern.schema.json --configs configs --tern build/tern [--case NAME]

(a) every configs/*.yaml validates against the schema;
(b) each broken config below is rejected by the schema AND by the loader, both at the
    expected YAML path; each valid snippet is accepted by both.
(The loader and the schema knowing the same keys is checked by unit_config's
"the schema and the loader know the same keys".)

YAML is read with the YAML 1.2 core schema, as yaml-cpp (the loader) and the editors'
YAML language server read it: `yes`/`on` are strings, not booleans; `010` is ten.
Needs python3-yaml and python3-jsonschema (bash .ci/deps.sh --test). Exit 0 = pass.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import jsonschema
    import yaml
except ImportError as e:  # a missing test dependency is a failure, not a skip
    sys.exit(f"schema_test: {e}; install python3-yaml and python3-jsonschema "
             "(bash .ci/deps.sh --test)")


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars instead of YAML 1.1's."""


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                       "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))


def load_yaml(text):
    return yaml.load(text, Loader=Yaml12Loader)


def yaml_path(parts):
    """deque(['listeners', 0, 'bind']) -> 'listeners[0].bind', as the loader writes it."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def join(path, key):
    return f"{path}.{key}" if path else key


def schema_error_paths(validator, doc):
    """Every YAML path the schema complains about. An error about a key that is missing
    (required), not allowed (additionalProperties) or forbidden (not: required) is
    reported by JSON Schema at the enclosing mapping; it counts at the key, as the loader
    reports it."""
    paths = set()
    for e in validator.iter_errors(doc):
        base = yaml_path(e.absolute_path)
        paths.add(base)
        inst = e.instance if isinstance(e.instance, dict) else {}
        if e.validator == "required":
            paths.update(join(base, k) for k in e.validator_value if k not in inst)
        elif e.validator == "additionalProperties":
            known = set(e.schema.get("properties", {}))
            paths.update(join(base, k) for k in inst if k not in known)
        elif e.validator == "not" and isinstance(e.validator_value, dict):
            paths.update(join(base, k) for k in e.validator_value.get("required", []))
    return paths


# (name, YAML, the path both must report). One mistake per config.
BROKEN = [
    ("unknown section", "mqttt:\n  max_inflight: 8\n", "mqttt"),
    ("unknown key", "mqtt:\n  retain_avialable: true\n", "mqtt.retain_avialable"),
    ("receive maximum 0", "mqtt:\n  max_inflight: 0\n", "mqtt.max_inflight"),
    ("ambiguous size unit", "mqtt:\n  max_packet_size: 1MB\n", "mqtt.max_packet_size"),
    ("YAML 1.1 boolean", "mqtt:\n  retain_available: on\n", "mqtt.retain_available"),
    ("duration without unit", "mqtt:\n  connect_timeout: 10\n", "mqtt.connect_timeout"),
    ("overflow policy", "sessions:\n  overflow: drop_all\n", "sessions.overflow"),
    ("expiry word", "sessions:\n  expiry_default: forever\n", "sessions.expiry_default"),
    ("host name bind", "listeners:\n  - name: a\n    bind: \"localhost:1883\"\n",
     "listeners[0].bind"),
    ("listener without bind", "listeners:\n  - name: a\n", "listeners[0].bind"),
    ("listener name", "listeners:\n  - name: \"my listener\"\n    bind: \"0.0.0.0:1\"\n",
     "listeners[0].name"),
    ("MQTT version", "listeners:\n  - {name: a, bind: \"0.0.0.0:1883\", protocols: [\"4.0\"]}\n",
     "listeners[0].protocols[0]"),
    ("path on a TCP listener", "listeners:\n  - {name: a, bind: \"0.0.0.0:1883\", path: /x}\n",
     "listeners[0].path"),
    ("TLS without key",
     "listeners:\n  - name: a\n    bind: \"0.0.0.0:8883\"\n    tls:\n      cert: /c.pem\n",
     "listeners[0].tls.key"),
    ("rate word", "limits:\n  publish_rate: fast\n", "limits.publish_rate"),
    ("too many loops", "io_threads: 65\n", "io_threads"),
    ("relative store", "storage:\n  path: data/tern\n", "storage.path"),
    ("sync mode", "storage:\n  sync: sometimes\n", "storage.sync"),
    ("relative password file", "auth:\n  password_file: passwd\n", "auth.password_file"),
    ("ACL access", "acl:\n  rules:\n    - {topic: \"a/#\", access: write_all}\n",
     "acl.rules[0].access"),
    ("ACL rule without topic", "acl:\n  rules:\n    - {access: read}\n", "acl.rules[0].topic"),
    ("bridge scheme",
     "bridges:\n  - name: b\n    remote: \"http://x\"\n    topics: [{pattern: \"a/#\"}]\n",
     "bridges[0].remote"),
    ("bridge without topics", "bridges:\n  - name: b\n    remote: \"mqtt://h:1883\"\n",
     "bridges[0].topics"),
    ("bridge direction",
     "bridges:\n  - name: b\n    remote: \"mqtt://h\"\n    topics: [{pattern: \"a/#\", "
     "direction: up}]\n", "bridges[0].topics[0].direction"),
    ("bridge queue key",
     "bridges:\n  - name: b\n    remote: \"mqtt://h\"\n    topics: [{pattern: \"a\"}]\n"
     "    queue: {max_msgs: 5}\n", "bridges[0].queue.max_msgs"),
    ("log target", "log:\n  to: \"file:tern.log\"\n", "log.to"),
    ("log format", "log:\n  format: xml\n", "log.format"),
    ("unknown subsystem", "log:\n  levels:\n    netw: debug\n", "log.levels.netw"),
    ("subsystem level", "log:\n  levels:\n    net: verbose\n", "log.levels.net"),
    ("HTTP off loopback without a token", "http:\n  bind: \"0.0.0.0:9090\"\n",
     "http.token_file"),
    ("HTTP on every IPv6 address without a token", "http:\n  bind: \"[::]:9090\"\n",
     "http.token_file"),
    ("HTTP bind without port", "http:\n  bind: \"127.0.0.1\"\n", "http.bind"),
    ("HTTP relative token", "http:\n  token_file: http.token\n", "http.token_file"),
    ("HTTP unknown key", "http:\n  port: 9090\n", "http.port"),
    ("HTTP enabled word", "http:\n  enabled: yes\n", "http.enabled"),
    ("$SYS interval without unit", "sys_topics:\n  interval: 10\n", "sys_topics.interval"),
    ("$SYS interval not whole seconds", "sys_topics:\n  interval: 500ms\n",
     "sys_topics.interval"),
    ("$SYS unknown key", "sys_topics:\n  enabled: true\n", "sys_topics.enabled"),
    ("dead letter rate 0", "dead_letter:\n  max_rate: 0\n", "dead_letter.max_rate"),
    ("dead letter rate fraction", "dead_letter:\n  max_rate: 2.5\n", "dead_letter.max_rate"),
    ("dead letter rate too high", "dead_letter:\n  max_rate: 100001\n",
     "dead_letter.max_rate"),
    ("dead letter enabled word", "dead_letter:\n  enabled: on\n", "dead_letter.enabled"),
]

# Both must accept these (spellings at the edges of each rule).
VALID = [
    ("empty file", ""),
    ("empty sections", "mqtt:\nsessions:\nauth:\nlog:\nsys_topics:\ndead_letter:\n"),
    ("http by presence", "http:\n"),
    ("http off anywhere", "http:\n  enabled: false\n  bind: \"0.0.0.0:9090\"\n"),
    ("http with token", "http:\n  bind: \"0.0.0.0:9090\"\n  token_file: /etc/tern/http.token\n"),
    ("http on loopback", "http:\n  bind: \"127.0.0.2:9091\"\n"),
    ("http on IPv6 loopback", "http:\n  bind: \"[::1]:9090\"\n"),
    ("$SYS off", "sys_topics: {interval: 0s}\n"),
    ("$SYS hourly", "sys_topics: {interval: 1h}\n"),
    ("dead letters per minute", "dead_letter: {enabled: true, max_rate: 600/m}\n"),
    ("dead letters as a number", "dead_letter: {enabled: true, max_rate: 100000}\n"),
    ("log levels", "log:\n  levels: {app: info, net: warn, core: debug, storage: error, "
     "bridge: trace, auth: critical, tls: off, http: info}\n"),
    ("unquoted versions", "listeners:\n  - {name: a, bind: \"0.0.0.0:1883\", protocols: [3.1.1, 5.0]}\n"),
    ("sizes and durations", "mqtt: {max_packet_size: 262144, max_keepalive: 1m30s, "
     "connect_timeout: 1500ms}\nsessions: {expiry_default: never, max_session_expiry: never}\n"),
    ("no bridges", "bridges:\n"),
]


def run_loader(tern, text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
        name = f.name
    try:
        p = subprocess.run([tern, "--check-config", name], capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout + p.stderr
    finally:
        os.unlink(name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema", required=True)
    ap.add_argument("--configs", required=True)
    ap.add_argument("--tern", required=True)
    ap.add_argument("--case", choices=["examples", "broken", "valid"], action="append")
    args = ap.parse_args()
    cases = args.case or ["examples", "broken", "valid"]

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failures = []

    if "examples" in cases:
        files = sorted(n for n in os.listdir(args.configs) if n.endswith(".yaml"))
        for required in ("tern.yaml", "operations.yaml"):
            if required not in files:
                failures.append(f"configs/{required} is missing")
        for n in files:
            with open(os.path.join(args.configs, n), encoding="utf-8") as f:
                text = f.read()
            for e in validator.iter_errors(load_yaml(text)):
                failures.append(f"configs/{n}: {yaml_path(e.absolute_path)}: {e.message}")
            if not text.startswith("# yaml-language-server: $schema=./tern.schema.json\n"):
                failures.append(f"configs/{n}: first line is not the schema modeline")
        print(f"examples: {len(files)} files")

    if "broken" in cases:
        for name, text, path in BROKEN:
            got = schema_error_paths(validator, load_yaml(text))
            if path not in got:
                failures.append(f"broken '{name}': the schema does not reject {path} "
                                f"(errors at: {sorted(got) or 'none'})")
            rc, out = run_loader(args.tern, text)
            if rc != 1 or f": {path}: " not in out:
                failures.append(f"broken '{name}': tern --check-config exit {rc}, expected 1 "
                                f"with an error at {path}:\n{out}")
        print(f"broken: {len(BROKEN)} configs")

    if "valid" in cases:
        for name, text in VALID:
            errs = [f"{yaml_path(e.absolute_path)}: {e.message}"
                    for e in validator.iter_errors(load_yaml(text))]
            if errs:
                failures.append(f"valid '{name}': the schema rejects it: {errs}")
            rc, out = run_loader(args.tern, text)
            if rc != 0:
                failures.append(f"valid '{name}': tern --check-config exit {rc}:\n{out}")
        print(f"valid: {len(VALID)} configs")

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

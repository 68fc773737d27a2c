#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# Turn api/openapi.json into a C file (api_openapi_json, api_openapi_json_len),
# so guarder-api serves the document it was built with. The JSON is parsed
# first: a syntax error fails the build, not a request.
import json
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    text = f.read()
json.loads(text)
data = text.encode("utf-8")
with open(dst, "w", encoding="ascii") as out:
    out.write("/* Generated from openapi.json by embed.py: do not edit. */\n")
    out.write("#include <stddef.h>\n")
    out.write("const char api_openapi_json[] = {\n")
    for i in range(0, len(data), 16):
        out.write("\t" + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
    out.write("\t0x00\n};\n")
    out.write("const size_t api_openapi_json_len = %d;\n" % len(data))

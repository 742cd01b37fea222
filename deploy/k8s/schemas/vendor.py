"""Makes the JSON Schemas of KEDA's ScaledObject and TriggerAuthentication from KEDA's CRDs
(config/crd/bases/keda.sh_<plural>.yaml at a release tag), refusing unknown fields as the API
server does with strict field validation. Run once per KEDA upgrade; the output is committed.

    python3 deploy/k8s/schemas/vendor.py KEDA_VERSION CRD.yaml...
"""

import json
import sys
from pathlib import Path

import yaml


def strict(node):
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)


def main(version, paths):
    for path in paths:
        crd = yaml.safe_load(Path(path).read_text())
        kind = crd["spec"]["names"]["kind"]
        served = [v for v in crd["spec"]["versions"] if v.get("storage")][0]
        schema = served["schema"]["openAPIV3Schema"]
        strict(schema)
        schema["properties"]["metadata"] = {"type": "object"}
        schema["properties"]["apiVersion"] = {"const": f"{crd['spec']['group']}/{served['name']}"}
        schema["properties"]["kind"] = {"const": kind}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schema["title"] = f"KEDA {kind} from KEDA v{version} ({Path(path).name}); unknown fields refused"
        out = Path(__file__).parent / f"keda-{kind.lower()}-v{version}.json"
        out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

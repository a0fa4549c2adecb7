"""Static checks of infra/template.yaml: least-privilege IAM and Lambda@Edge limits.

Run: python3 -m unittest infra/test_template.py
"""
import pathlib
import unittest

import yaml

T = yaml.safe_load((pathlib.Path(__file__).parent / "template.yaml").read_text())
R = T["Resources"]
# The default `sizes` of src/config.rs: the boxes, then each srcset width as a width and a height.
WIDTHS = [16, 32, 48, 64, 96, 128, 256, 384, 640, 750, 828, 1080, 1200, 1920, 2048, 3840]
SIZES = ["100x100", "200x200", "300x300", "640x480", "1280x720"] + [f"{w}x0" for w in WIDTHS] + [f"0x{w}" for w in WIDTHS]


def statements(role):
    for pol in R[role]["Properties"].get("Policies", []):
        yield from pol["PolicyDocument"]["Statement"]


def listify(v):
    return v if isinstance(v, list) else [v]


def resource_text(r):
    return r["Fn::Sub"] if isinstance(r, dict) and "Fn::Sub" in r else str(r)


def s3_grants(role):
    out = {}
    for st in statements(role):
        for a in listify(st["Action"]):
            if a.startswith("s3:"):
                out.setdefault(a, []).extend(resource_text(r) for r in listify(st["Resource"]))
    return out


class Iam(unittest.TestCase):
    def test_no_wildcards(self):
        for name, res in R.items():
            if res["Type"] != "AWS::IAM::Role":
                continue
            for st in statements(name):
                actions = listify(st["Action"])
                self.assertNotIn("*", actions, name)
                self.assertNotIn("s3:*", actions, name)
                if any(a.startswith("s3:") for a in actions):
                    self.assertNotIn("*", [resource_text(r) for r in listify(st["Resource"])], name)

    def test_edge_roles_trust_edgelambda(self):
        for role in ["ViewerRequestRole", "OriginResponseRole"]:
            principals = R[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
            self.assertIn("edgelambda.amazonaws.com", principals)

    def test_viewer_request_touches_no_s3(self):
        self.assertEqual(s3_grants("ViewerRequestRole"), {})

    def test_origin_response_reads_originals_writes_variants_only(self):
        g = s3_grants("OriginResponseRole")
        self.assertEqual(set(g), {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"})
        self.assertEqual(g["s3:GetObject"], ["arn:${AWS::Partition}:s3:::${BucketName}/${Prefix}*"])
        for action in ["s3:PutObject", "s3:DeleteObject"]:
            self.assertEqual(len(g[action]), len(SIZES))
            for r, size in zip(g[action], SIZES):
                self.assertTrue(r.endswith(f"${{Prefix}}*{size}*/*"), r)

    def test_janitor_deletes_variants_only(self):
        g = s3_grants("JanitorRole")
        state = "arn:${AWS::Partition}:s3:::${BucketName}/_edge-resize/"
        variants = [r for r in g["s3:DeleteObject"] if not r.startswith(state)]
        self.assertEqual(len(variants), len(SIZES))
        for r, size in zip(variants, SIZES):
            self.assertTrue(r.endswith(f"${{Prefix}}*{size}*/*"), r)
        self.assertEqual(sorted(set(g["s3:DeleteObject"]) - set(variants)), [state + "owed/*"])
        self.assertEqual(sorted(g["s3:PutObject"]), [state + "invalidation-ledger.json", state + "owed/*"])
        self.assertEqual(g["s3:ListBucket"], ["arn:${AWS::Partition}:s3:::${BucketName}"])


class Edge(unittest.TestCase):
    def test_cache_key_is_the_path_only(self):
        p = R["PathOnlyCachePolicy"]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
        self.assertEqual(p["QueryStringsConfig"]["QueryStringBehavior"], "none")
        self.assertEqual(p["HeadersConfig"]["HeaderBehavior"], "none")
        self.assertEqual(p["CookiesConfig"]["CookieBehavior"], "none")

    def test_edge_functions_fit_lambda_edge(self):
        v = R["ViewerRequestFunction"]["Properties"]
        o = R["OriginResponseFunction"]["Properties"]
        for f in (v, o):
            self.assertTrue(f["Runtime"].startswith("nodejs"))
            self.assertEqual(f["Architectures"], ["x86_64"])
            self.assertNotIn("Environment", f)
        self.assertLessEqual(v["MemorySize"], 128)
        self.assertLessEqual(v["Timeout"], 5)
        self.assertLessEqual(o["Timeout"], 30)
        assoc = R["Distribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
        self.assertEqual({a["EventType"]: a["LambdaFunctionARN"]["Ref"] for a in assoc},
                         {"viewer-request": "ViewerRequestVersion", "origin-response": "OriginResponseVersion"})

    def test_janitor_has_dlq_and_partial_failures(self):
        self.assertIn("RedrivePolicy", R["JanitorQueue"]["Properties"])
        self.assertEqual(R["JanitorEvents"]["Properties"]["FunctionResponseTypes"], ["ReportBatchItemFailures"])


class Dashboard(unittest.TestCase):
    def test_dashboard_shows_only_metrics_the_functions_emit(self):
        import json
        import re

        body = R["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        widgets = json.loads(re.sub(r"\$\{[^}]+\}", "us-east-1", body))["widgets"]
        titles = " ".join(w["properties"]["title"] for w in widgets)
        for word in ("Misses", "p50", "Errors", "Bytes"):
            self.assertIn(word.lower(), titles.lower())
        emitted = set(re.findall(r'\("([A-Z][A-Za-z0-9]+)", ', (pathlib.Path(__file__).parent.parent / "src/metrics.rs").read_text()))
        shown = {m[1] for w in widgets for m in w["properties"]["metrics"]}
        self.assertTrue(shown, "no metrics on the dashboard")
        self.assertLessEqual(shown, emitted, f"not emitted by src/metrics.rs: {shown - emitted}")
        for w in widgets:
            for m in w["properties"]["metrics"]:
                self.assertEqual((m[0], m[2]), ("EdgeResize", "Function"))


if __name__ == "__main__":
    unittest.main()

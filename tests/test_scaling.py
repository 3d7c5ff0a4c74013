"""Monitoring, dashboards, autoscaling and the GPU budget, followed through a simulated Prometheus
(what the PodMonitors make it scrape, with the labels their relabelings give) and KEDA (what
replica count the ScaledObjects ask for), on both seed stacks and on small catalogs."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

import harness
from catalogs import catalog_config
from harness import run_program, run_stack, stack_config
from llm_maas.models import POOL_LABEL, load_config
from netpol import Pod, ingress_allowed
from flow_control_sim import EndpointPicker
from gateway_sim import GatewaySimulator
from prometheus_sim import DATA_PLANE_IMAGE, DEPRECATED_EPP_METRICS, EPP_METRICS, Prometheus, data_plane_pod, desired_replicas, discover, metrics_named, pods_of

CHART = "kubernetes:helm.sh/v4:Chart"
SERVER_PORT, EPP_METRICS_PORT, DATA_PLANE_METRICS_PORT = 8000, 9090, 15020
PROMETHEUS = "http://prometheus.monitoring.svc:9090"


def _config(stack_or_values):
    values = stack_config(stack_or_values) if isinstance(stack_or_values, str) else stack_or_values
    return load_config(values)


def _targets(run, config, replicas=None):
    gw = config.gateway
    pods = pods_of(run.objects(), replicas) + [data_plane_pod(gw.name, gw.namespace, gw.listener_port)]
    return pods, discover(run.objects(), pods)


def _scraper(config) -> Pod:
    return Pod(config.monitoring.scraper.namespace, dict(config.monitoring.scraper.pod_labels))


def _epp_pool(run) -> dict[str, str]:
    """EPP Deployment name -> the pool whose InferencePool points at it (the pool's own view)."""
    return {p["spec"]["endpointPickerRef"]["name"]: p["metadata"]["name"] for p in run.objects("InferencePool")}


def test_every_server_picker_and_data_plane_is_scraped_on_its_metrics_port_with_its_pool(stack):
    name, run = stack
    config = _config(name)
    pods, targets = _targets(run, config)
    assert {t["metadata"]["name"] for t in run.objects("PodMonitor")} == {t.monitor for t in targets}
    epp_pool = _epp_pool(run)
    by_pod = {target.pod.name: target for target in targets}
    for pod in pods:
        pool = pod.labels.get(POOL_LABEL)
        epp_of = next((pool_name for epp, pool_name in epp_pool.items() if pod.name.startswith(f"{epp}-")), None)
        if pool:  # a model server: vLLM or the simulator, /metrics on the API port
            assert (by_pod[pod.name].port, by_pod[pod.name].labels["pool"]) == (SERVER_PORT, pool)
        elif epp_of:
            assert (by_pod[pod.name].port, by_pod[pod.name].labels["pool"]) == (EPP_METRICS_PORT, epp_of)
        elif pod.containers[0]["image"] == DATA_PLANE_IMAGE:
            assert (by_pod[pod.name].port, by_pod[pod.name].labels["gateway"]) == (DATA_PLANE_METRICS_PORT, config.gateway.name)
        else:  # the model list, rate limit and Redis export nothing scraped here
            assert pod.name not in by_pod
    servers = sum(w.replicas for w in config.workloads)
    assert sum(1 for t in targets if t.port == SERVER_PORT) == servers


def test_network_policies_let_the_scraper_reach_metrics_ports_and_nothing_else(stack):
    name, run = stack
    config = _config(name)
    pods, targets = _targets(run, config)
    objects = run.objects()
    scraper = _scraper(config)
    bystander = Pod(config.monitoring.scraper.namespace, {"app.kubernetes.io/name": "grafana"})
    scraped = {(t.pod.name, t.port) for t in targets}
    # Every pod but the data plane (the gateway's front door) is isolated by a NetworkPolicy.
    isolated = [pod for pod in pods if pod.containers[0]["image"] != DATA_PLANE_IMAGE]
    checked = 0
    for pod in isolated:
        target = Pod(pod.namespace, pod.labels)
        for container in pod.containers:
            for port in (p["containerPort"] for p in container.get("ports", [])):
                allowed = ingress_allowed(objects, scraper, target, port)
                assert allowed == ((pod.name, port) in scraped), (pod.name, port)
                if allowed:
                    assert not ingress_allowed(objects, bystander, target, port), (pod.name, port)
                checked += 1
    assert checked >= 10


def test_without_monitoring_nothing_is_scraped_and_the_picker_keeps_its_metrics_auth():
    run = run_program(catalog_config([{"name": "Qwen/Qwen3-0.6B", "server": "simulator"}]))
    assert run.objects("PodMonitor") == [] and _dashboards(run) == {}
    (epp,) = [d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-epp")]
    assert "--metrics-endpoint-auth=false" not in epp["spec"]["template"]["spec"]["containers"][0]["args"]
    prometheus = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    server = next(d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-server"))
    assert not ingress_allowed(run.objects(), prometheus, Pod("llm-d", server["spec"]["template"]["metadata"]["labels"]), SERVER_PORT)
    assert not ingress_allowed(run.objects(), prometheus, Pod("llm-d", epp["spec"]["template"]["metadata"]["labels"]), EPP_METRICS_PORT)


def test_the_scraped_picker_serves_metrics_without_a_token_but_only_to_the_scraper(stack_runs):
    run = stack_runs["dev"]
    for epp in (d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-epp")):
        assert "--metrics-endpoint-auth=false" in epp["spec"]["template"]["spec"]["containers"][0]["args"]


def test_each_scaled_object_scales_its_own_deployment_on_its_own_pools_queue(stack):
    name, run = stack
    config = _config(name)
    scaled_objects = run.objects("ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled_objects} == {m.server_name for m in config.models if m.autoscaling}
    for scaled in scaled_objects:
        model = next(m for m in config.models if m.server_name == scaled["spec"]["scaleTargetRef"]["name"])
        deployment = next(d for d in run.objects("Deployment") if d["metadata"]["name"] == model.server_name)
        assert deployment["metadata"]["namespace"] == scaled["metadata"]["namespace"]
        assert "replicas" not in deployment["spec"]  # the HPA owns the count
        others = [m for m in config.models if m is not model]
        current = 2
        _, targets = _targets(run, config, {model.server_name: current})
        pool_pods = [t.pod.name for t in targets if t.labels.get("pool") == model.pool_name and t.port == SERVER_PORT]
        assert len(pool_pods) == current
        prometheus = Prometheus(targets)
        depth, low, high = model.autoscaling.queue_depth, model.autoscaling.min_replicas, model.autoscaling.max_replicas
        assert desired_replicas(scaled, prometheus) == max(low, 1)  # idle
        # Other pools drowning must not scale this one.
        for target in targets:
            if target.labels.get("pool") in {m.pool_name for m in others}:
                prometheus.values[("vllm:num_requests_waiting", target.pod.name)] = 50
        assert desired_replicas(scaled, prometheus) == max(low, 1)
        # One more waiting request than `depth` per replica for `current + 1` replicas...
        for pod in pool_pods:
            prometheus.values[("vllm:num_requests_waiting", pod)] = depth * (current + 1) / current
        assert desired_replicas(scaled, prometheus) == min(current + 1, high)
        # ...and a flood stops at maxReplicas.
        for pod in pool_pods:
            prometheus.values[("vllm:num_requests_waiting", pod)] = 1000
        assert desired_replicas(scaled, prometheus) == high


def test_a_pool_at_zero_holds_requests_in_its_picker_wakes_on_them_and_serves_them():
    """Scale-to-zero through the v0.10.0 flow-control layer: a request for a pool with no pod is
    held by the picker (not refused), the held request is what KEDA sees and scales on, and the
    picker releases it once a pod is ready, or sheds it if none comes in time."""
    models = [
        {"name": "Qwen/Qwen3-0.6B", "server": "simulator", "autoscaling": {"minReplicas": 0, "maxReplicas": 3}},
        {"name": "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "server": "simulator", "autoscaling": {"maxReplicas": 3}},
    ]
    values = {**catalog_config(models), "maas:monitoring": json.dumps({"enabled": True}),
              "maas:autoscaling": json.dumps({"prometheusUrl": PROMETHEUS})}  # fmt: skip
    run = run_program(values)
    config = _config(values)
    outcome = GatewaySimulator(run.objects(), config.gateway.name, config.gateway.namespace).request(
        json.dumps({"model": "Qwen/Qwen3-0.6B"}).encode()
    )
    picker = EndpointPicker(run.objects(), outcome.epp_deployment)
    assert picker.pool == "qwen3-06b" and picker.flow_control
    controller = picker.controller()
    # Long enough for a pod to start, and inside the gateway's own 300 s request timeout.
    assert 120 <= controller.ttl < 300
    controller.enqueue("first", picker.admit(outcome.upstream_headers), now=0)
    assert controller.dispatch(0, now=10) == [] and controller.held == 1  # no pod: held, not refused

    scaled = next(s for s in run.objects("ScaledObject") if s["metadata"]["name"] == "qwen3-06b-server")
    _, targets = _targets(run, config, {"qwen3-06b-server": 0})
    prometheus = Prometheus(targets)
    assert desired_replicas(scaled, prometheus) == 0  # idle: stays at zero
    epp_pod = next(t.pod.name for t in targets if t.labels.get("pool") == "qwen3-06b" and t.port == EPP_METRICS_PORT)
    prometheus.values[("llm_d_epp_flow_control_queue_size", epp_pod)] = controller.held
    assert desired_replicas(scaled, prometheus) == 1  # the held request wakes the pool

    assert controller.dispatch(1, now=90) == ["first"]  # the pod is ready: released
    controller.enqueue("too-late", picker.admit(outcome.upstream_headers), now=100)
    assert controller.dispatch(0, now=100 + controller.ttl) == [] and controller.held == 0  # shed at the TTL
    # A pool that never scales to zero keeps upstream's 60 s queue-wait budget.
    tiny = GatewaySimulator(run.objects(), config.gateway.name, config.gateway.namespace).request(
        json.dumps({"model": "TinyLlama/TinyLlama-1.1B-Chat-v1.0"}).encode()
    )
    assert EndpointPicker(run.objects(), tiny.epp_deployment).controller().ttl == 60


def test_the_queue_trigger_counts_what_servers_queue_and_what_the_picker_holds(stack_runs):
    """With flow control a saturated pool's servers queue only about the picker's saturation
    threshold (5 each by default) and the picker holds the rest: the trigger adds both, so a
    backlog held in the picker still scales the pool out."""
    run = stack_runs["prod"]
    config = _config("prod")
    model = next(m for m in config.models if m.autoscaling)
    scaled = next(s for s in run.objects("ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == model.server_name)
    _, targets = _targets(run, config, {model.server_name: 1})
    prometheus = Prometheus(targets)
    (server,) = [t.pod.name for t in targets if t.labels.get("pool") == model.pool_name and t.port == SERVER_PORT]
    (epp,) = [t.pod.name for t in targets if t.labels.get("pool") == model.pool_name and t.port == EPP_METRICS_PORT]
    prometheus.values[("vllm:num_requests_waiting", server)] = 5
    assert desired_replicas(scaled, prometheus) == 1  # 5 waiting, queueDepth 8: one replica is enough
    prometheus.values[("llm_d_epp_flow_control_queue_size", epp)] = 20
    assert desired_replicas(scaled, prometheus) == 4  # 25 waiting in all: ceil(25 / 8), capped at maxReplicas 4


def test_no_dashboard_or_trigger_reads_a_deprecated_picker_metric(stack):
    _, run = stack
    queries = [t["metadata"]["query"] for s in run.objects("ScaledObject") for t in s["spec"]["triggers"]]
    queries += [target["expr"] for board in _dashboards(run).values() for panel in board["panels"] for target in panel["targets"]]
    used = {metric for query in queries for metric in metrics_named(query)}
    assert used & set(EPP_METRICS) and not used & set(DEPRECATED_EPP_METRICS)


def _dashboards(run) -> dict[str, dict]:
    return {
        c["metadata"]["name"]: json.loads(next(iter(c["data"].values())))
        for c in run.objects("ConfigMap")
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    }


def test_dashboards_show_each_model_and_consumer_from_metrics_the_scraped_pods_export(stack):
    name, run = stack
    config = _config(name)
    _, targets = _targets(run, config)
    exported = {metric: labels for target in targets for metric, labels in target.exports.items()}
    target_labels = {label for target in targets for label in target.labels}
    boards = _dashboards(run)
    assert set(boards) == {"maas-models-dashboard", "maas-consumers-dashboard", "maas-spend-dashboard"}
    titles = {panel["title"].lower() for board in boards.values() for panel in board["panels"]}
    for needed in ("requests", "queue depth", "kv-cache", "tokens /s", "time to first token", "replicas", "by consumer and model",
                   "spend per hour by team", "spend in the last 24 h by model"):
        assert any(needed in title for title in titles), needed
    for board in boards.values():
        for panel in board["panels"]:
            for target in panel["targets"]:
                for metric in metrics_named(target["expr"]):
                    assert metric in exported, (panel["title"], metric)
    consumer_label = next(
        attribute["name"]
        for policy in run.objects("AgentgatewayPolicy")
        for attribute in policy["spec"].get("frontend", {}).get("metrics", {}).get("attributes", {}).get("add", [])
    )
    consumers_json = json.dumps(boards["maas-consumers-dashboard"])
    assert f"by ({consumer_label}, gen_ai_request_model)" in consumers_json and consumer_label in exported["agentgateway_requests_total"]
    assert {"pool", "gateway"} <= target_labels


def test_rollouts_and_drain_budgets_hold_at_every_replica_count_in_the_range(stack_runs):
    for stack, pool in (("prod", "qwen3-06b"), ("dev", "deepseek-r1")):
        run = stack_runs[stack]
        model = next(m for m in _config(stack).models if m.pool_name == pool)
        deployment = next(d for d in run.objects("Deployment") if d["metadata"]["name"] == model.server_name)
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        (budget,) = [p for p in run.objects("PodDisruptionBudget") if p["metadata"]["name"] == model.server_name]
        gpus = model.gpus_per_replica
        for replicas in range(model.autoscaling.min_replicas, model.autoscaling.max_replicas + 1):
            # A rollout needs no GPU beyond what the current pods hold, and still progresses.
            assert replicas + rolling["maxSurge"] <= replicas + (0 if gpus else 1)
            assert rolling["maxUnavailable"] + rolling["maxSurge"] >= 1
            # Without GPUs nothing stops serving; with them at most one replica at a time.
            assert replicas - rolling["maxUnavailable"] >= (replicas if not gpus else replicas - 1)
            # A drain may always evict one pod, never more than one at once.
            assert min(budget["spec"]["maxUnavailable"], replicas) == min(1, replicas)


def test_gpu_outputs_at_min_configured_and_max_replicas_and_the_budget_both_ways():
    models = [
        {"name": "org/fixed-70b", "tensorParallel": 2, "replicas": 2},
        {"name": "org/scaled-8b", "replicas": 2, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}},
        {"name": "org/scaled-sim", "server": "simulator", "autoscaling": {"maxReplicas": 5}},
    ]
    values = {**catalog_config(models), "maas:monitoring": json.dumps({"enabled": True}),
              "maas:autoscaling": json.dumps({"prometheusUrl": PROMETHEUS})}  # fmt: skip
    # At min 2*2 + 1; as configured 2*2 + 2; at max 2*2 + 3 (simulators use none).
    expected = {"gpusAtMin": 5, "gpus": 6, "gpusAtMax": 7}
    for budget in (None, 7):
        run = run_program({**values, **({"maas:gpuBudget": str(budget)} if budget else {})})
        assert {key: run.outputs[key] for key in expected} == expected
    with pytest.raises(pulumi.RunError) as caught:
        run_program({**values, "maas:gpuBudget": "6"})
    assert "maas:gpuBudget = 6" in str(caught.value) and "org/fixed-70b 4, org/scaled-8b 3" in str(caught.value)
    assert harness.record.last.registrations == []


def _chart(run, chart: str) -> dict[str, Any]:
    (registration,) = [r for r in run.by_type(CHART) if r.plain_inputs["chart"] == chart]
    return registration


def test_dev_installs_prometheus_and_keda_from_pinned_charts_before_their_objects(stack_runs):
    run = stack_runs["dev"]
    prometheus_chart, keda_chart = _chart(run, "kube-prometheus-stack"), _chart(run, "keda")
    versions = _config("dev").versions
    assert prometheus_chart.plain_inputs["version"] == versions.kube_prometheus_stack == "88.3.0"
    assert keda_chart.plain_inputs["version"] == versions.keda == "2.20.2"
    for kind, chart in (("PodMonitor", prometheus_chart), ("ScaledObject", keda_chart)):
        for obj in run.objects(kind):
            assert chart.urn in run.registration_of(obj).dependencies, (kind, obj["metadata"]["name"])
    values = prometheus_chart.plain_inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False  # else only `release:`-labelled monitors
    # KEDA queries the installed Prometheus Service (`<fullname>-prometheus`), which admits it.
    namespace = prometheus_chart.plain_inputs["namespace"]
    address = f"http://{values['fullnameOverride']}-prometheus.{namespace}.svc.cluster.local:9090"
    for scaled in run.objects("ScaledObject"):
        assert {t["metadata"]["serverAddress"] for t in scaled["spec"]["triggers"]} == {address}
    keda = Pod(keda_chart.plain_inputs["namespace"], {"app": "keda-operator"})
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "p", "namespace": namespace}, "spec": {**values["prometheus"]["networkPolicy"], "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}}  # fmt: skip
    prometheus_pod = Pod(namespace, {"app.kubernetes.io/name": "prometheus"})
    assert ingress_allowed([policy], keda, prometheus_pod, 9090)
    assert not ingress_allowed([policy], Pod("llm-d", {}), prometheus_pod, 9090)
    admin = next(s for s in run.objects("Secret") if s["metadata"]["name"] == values["grafana"]["admin"]["existingSecret"])
    assert len(admin["stringData"]["admin-password"]) >= 32


def test_prod_uses_openshift_monitoring_and_reads_thanos_with_a_token(stack_runs):
    run = stack_runs["prod"]
    # The cluster's own monitoring and autoscaler: the only charts are agentgateway's.
    assert all(r.plain_inputs["chart"].startswith("oci://cr.agentgateway.dev/") for r in run.by_type(CHART))
    (scaled,) = run.objects("ScaledObject")
    (auth,) = run.objects("TriggerAuthentication")
    for trigger in scaled["spec"]["triggers"]:
        metadata = trigger["metadata"]
        assert metadata["serverAddress"] == "https://thanos-querier.openshift-monitoring.svc.cluster.local:9092"
        assert (metadata["authModes"], metadata["namespace"]) == ("bearer", scaled["metadata"]["namespace"])
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    secrets = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    (token,) = [s for s in run.objects("Secret") if s["metadata"]["name"] == secrets["bearerToken"]["name"]]
    assert token["type"] == "kubernetes.io/service-account-token" and secrets["ca"]["key"] == "ca.crt"
    account = token["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    (binding,) = [b for b in run.objects("RoleBinding") if b["subjects"][0]["name"] == account]
    (role,) = [r for r in run.objects("Role") if r["metadata"]["name"] == binding["roleRef"]["name"]]
    assert {"pods"} <= {resource for rule in role["rules"] for resource in rule["resources"]}
    assert _scraper(_config("prod")).namespace == "openshift-user-workload-monitoring"


def test_a_later_pulumi_up_changes_nothing_the_autoscaler_owns(stack_runs):
    """Pulumi applies server-side: a field absent from the applied manifest is neither owned nor
    reset by it. The autoscaled Deployment's manifest has no replicas, in every run, while a
    fixed model's keeps its own."""
    again = run_stack("dev")
    for run in (stack_runs["dev"], again):
        deployments = {d["metadata"]["name"]: d["spec"] for d in run.objects("Deployment")}
        assert "replicas" not in deployments["deepseek-r1-server"]
        assert deployments["qwen3-32b-server"]["replicas"] == 3

{{/*
Labels: kubespray's `app` (the selectors and the server's -agent-selector use it) plus the
recommended app.kubernetes.io ones. Selectors use `app` alone, as kubespray's objects do.
*/}}
{{- define "netchecker.labels" -}}
app: {{ .app }}
app.kubernetes.io/name: {{ .app }}
app.kubernetes.io/part-of: netchecker
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* Pod template labels: no chart version, so a chart upgrade alone restarts nothing. */}}
{{- define "netchecker.podLabels" -}}
app: {{ .app }}
app.kubernetes.io/name: {{ .app }}
app.kubernetes.io/part-of: netchecker
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{- define "netchecker.serverImage" -}}
{{ .Values.server.image.repository }}:{{ .Values.server.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Agents the server holds: two per node (pod network and host network DaemonSets). */}}
{{- define "netchecker.agents" -}}
{{ mul 2 (int .Values.fleet.nodes) }}
{{- end }}

{{/*
Sizing from `python -m bench.sizing` (charts/netchecker/README.md: Sizing, with the runs).
Memory: the peak resident set (VmHWM) in MiB = base + perAgent * agents, the least-squares line
through the highest peak of the runs at each of 1,000, 5,000 and 10,000 agents, rounded up. The
request is that line; the limit 1.5 x the line, rounded up to 16 Mi: the measured peaks with headroom.
CPU in millicores = base + (agents / reportIntervalSeconds reports per second) x the measured CPU
per report; no CPU limit (throttling would delay /healthz and /readyz).
KiB per agent and microseconds per report keep helm's integer arithmetic exact.
*/}}
{{- define "netchecker.fit" -}}
{{- $agents := int (include "netchecker.agents" .root) -}}
{{- $fits := dict
  "memory" (dict "baseMiB" 62 "perAgentKiB" 30 "baseMilli" 100 "perReportMicro" 600)
  "etcd" (dict "baseMiB" 107 "perAgentKiB" 25 "baseMilli" 200 "perReportMicro" 1000)
  "etcdSidecar" (dict "baseMiB" 34 "perAgentKiB" 10 "baseMilli" 70 "perReportMicro" 100)
-}}
{{- $fit := get $fits .which -}}
{{- $mib := add $fit.baseMiB (div (add (mul $agents $fit.perAgentKiB) 1023) 1024) -}}
{{- $reportsMilliPerSecond := div (mul $agents 1000) (int .root.Values.agents.reportIntervalSeconds) -}}
{{- $milli := add $fit.baseMilli (div (mul $reportsMilliPerSecond $fit.perReportMicro) 1000000) -}}
{{- dict "mib" $mib "milli" $milli | toJson -}}
{{- end }}

{{- define "netchecker.resources" -}}
{{- $fit := include "netchecker.fit" . | fromJson -}}
{{- $limit := mul (div (add (div (mul (int $fit.mib) 3) 2) 15) 16) 16 -}}
requests:
  cpu: {{ int $fit.milli }}m
  memory: {{ int $fit.mib }}Mi
limits:
  memory: {{ $limit }}Mi
{{- end }}

{{- define "netchecker.serverResources" -}}
{{- if .Values.server.resources -}}
{{ toYaml .Values.server.resources }}
{{- else -}}
{{ include "netchecker.resources" (dict "root" . "which" (ternary "memory" "etcd" (eq .Values.store.type "memory"))) }}
{{- end }}
{{- end }}

{{- define "netchecker.etcdSidecarResources" -}}
{{- if .Values.store.etcdSidecar.resources -}}
{{ toYaml .Values.store.etcdSidecar.resources }}
{{- else -}}
{{ include "netchecker.resources" (dict "root" . "which" "etcdSidecar") }}
{{- end }}
{{- end }}

{{/* The hostnet agent's namespace: its own when set (a privileged one), else the release's. */}}
{{- define "netchecker.hostnetNamespace" -}}
{{ .Values.agents.hostNetwork.namespace | default .Release.Namespace }}
{{- end }}

{{/* netchecker-service:8081 as kubespray's agents use it; qualified when the agent is elsewhere. */}}
{{- define "netchecker.serverEndpoint" -}}
{{- if .root.Values.agents.serverEndpoint -}}
{{ .root.Values.agents.serverEndpoint }}
{{- else if eq .namespace .root.Release.Namespace -}}
netchecker-service:8081
{{- else -}}
netchecker-service.{{ .root.Release.Namespace }}.svc:8081
{{- end }}
{{- end }}

{{/*
The Events Role in `namespace` with rbac.clusterWide=false. Every namespaced release puts one in
`default`, so the one there is named for the release's namespace.
*/}}
{{- define "netchecker.eventsRole" -}}
{{- if eq .namespace .root.Release.Namespace -}}
netchecker-server-events
{{- else -}}
netchecker-server-events-{{ .root.Release.Namespace }}
{{- end }}
{{- end }}

{{/* What the schema cannot say: the release namespace is known at render time only. */}}
{{- define "netchecker.checks" -}}
{{- if and (not .Values.rbac.clusterWide) .Values.agents.hostNetwork.enabled (ne (include "netchecker.hostnetNamespace" .) .Release.Namespace) -}}
{{- fail "rbac.clusterWide=false lets the server watch the release namespace only: agents.hostNetwork.namespace must be empty or the release namespace" -}}
{{- end -}}
{{- end }}

{{/* Names and labels. */}}
{{- define "strom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "strom.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "strom.headless" -}}
{{- printf "%s-headless" (include "strom.fullname" .) -}}
{{- end -}}

{{- define "strom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "strom.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "strom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "strom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "strom.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "strom.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The stable DNS name of pod $i: <fullname>-<i>.<headless>.<namespace>.svc.<domain>. */}}
{{- define "strom.podHost" -}}
{{- $ := index . 0 -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "strom.fullname" $) (index . 1) (include "strom.headless" $) $.Release.Namespace $.Values.clusterDomain -}}
{{- end -}}

{{/*
The named-listener form ([[listeners]]) is needed for TLS, SASL and external
access. The first listener, INTERNAL, stays PLAINTEXT on ports.kafka: the
node's own clients (the console, the metrics' end offsets) dial it without
credentials (docs/security.md); clients get CLIENT (ports.client) with TLS
and/or SASL, and EXTERNAL with the same protocol.
*/}}
{{- define "strom.namedListeners" -}}
{{- if or .Values.tls.enabled .Values.sasl.enabled .Values.external.enabled -}}true{{- end -}}
{{- end -}}

{{- define "strom.protocol" -}}
{{- if and .Values.tls.enabled .Values.sasl.enabled -}}SASL_SSL
{{- else if .Values.tls.enabled -}}SSL
{{- else if .Values.sasl.enabled -}}SASL_PLAINTEXT
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{/* The external address pod $i advertises. */}}
{{- define "strom.externalAddress" -}}
{{- $ := index . 0 -}}
{{- $i := index . 1 -}}
{{- $ext := $.Values.external -}}
{{- if eq $ext.type "NodePort" -}}
{{- if not $ext.host -}}{{- fail "external.host must be set for external.type NodePort" -}}{{- end -}}
{{- printf "%s:%d" $ext.host (add (int $ext.nodePortBase) $i) -}}
{{- else if eq $ext.type "LoadBalancer" -}}
{{- if le (len $ext.advertisedHosts) $i -}}{{- fail (printf "external.advertisedHosts needs one host per pod (%d pods)" (int $.Values.replicaCount)) -}}{{- end -}}
{{- printf "%s:%d" (index $ext.advertisedHosts $i) (int $ext.port) -}}
{{- else -}}
{{- fail "external.type must be NodePort or LoadBalancer" -}}
{{- end -}}
{{- end -}}

{{/*
The config file of pod $i: this node's id and addresses, the chart's
settings, values.config, and the peer list (every pod, the same in every file).
*/}}
{{- define "strom.nodeConfig" -}}
{{- $ := index . 0 -}}
{{- $i := index . 1 -}}
{{- $p := $.Values.ports -}}
{{- $host := include "strom.podHost" (list $ $i) -}}
# Node {{ $i }} of {{ include "strom.fullname" $ }} ({{ $.Values.replicaCount }} nodes), written by the Helm chart.
node_id = {{ $i }}
data_dir = "/var/lib/strom"
log_level = {{ $.Values.logLevel | quote }}
log_format = {{ $.Values.logFormat | quote }}
auto_create_topics = {{ $.Values.autoCreateTopics }}
default_partitions = {{ int $.Values.defaultPartitions }}
default_replication_factor = {{ int $.Values.defaultReplicationFactor }}
{{- with $.Values.config }}
{{ . }}
{{- end }}

[node.addresses]
{{- if not (include "strom.namedListeners" $) }}
kafka = "0.0.0.0:{{ $p.kafka }}"
{{- end }}
wal = "0.0.0.0:{{ $p.replication }}"
raft = "0.0.0.0:{{ $p.raft }}"

[node.advertise]
{{- if not (include "strom.namedListeners" $) }}
kafka = "{{ $host }}:{{ $p.kafka }}"
{{- end }}
wal = "{{ $host }}:{{ $p.replication }}"
raft = "{{ $host }}:{{ $p.raft }}"
{{- if include "strom.namedListeners" $ }}
{{- $proto := include "strom.protocol" $ }}

[[listeners]]
name = "INTERNAL"
address = "0.0.0.0:{{ $p.kafka }}"
advertise = "{{ $host }}:{{ $p.kafka }}"
protocol = "PLAINTEXT"
{{- if or $.Values.tls.enabled $.Values.sasl.enabled }}

[[listeners]]
name = "CLIENT"
address = "0.0.0.0:{{ $p.client }}"
advertise = "{{ $host }}:{{ $p.client }}"
protocol = "{{ $proto }}"
{{- if $.Values.sasl.enabled }}
sasl_mechanisms = {{ toJson $.Values.sasl.mechanisms }}
{{- end }}
{{- end }}
{{- if $.Values.external.enabled }}

[[listeners]]
name = "EXTERNAL"
address = "0.0.0.0:{{ $.Values.external.port }}"
advertise = "{{ include "strom.externalAddress" (list $ $i) }}"
protocol = "{{ $proto }}"
{{- if $.Values.sasl.enabled }}
sasl_mechanisms = {{ toJson $.Values.sasl.mechanisms }}
{{- end }}
{{- end }}
{{- end }}
{{- if $.Values.tls.enabled }}

[tls]
cert_file = "/etc/strom/tls/tls.crt"
key_file = "/etc/strom/tls/tls.key"
client_auth = {{ $.Values.tls.clientAuth | quote }}
{{- if ne $.Values.tls.clientAuth "none" }}
client_ca_file = "/etc/strom/tls/ca.crt"
{{- end }}
{{- if $.Values.tls.internode }}
ca_file = "/etc/strom/tls/ca.crt"
{{- end }}
{{- end }}
{{- if $.Values.sasl.enabled }}
{{- range $.Values.sasl.users }}

[[sasl.users]]
name = {{ .name | quote }}
password_file = "/etc/strom/sasl/{{ .name }}"
{{- with .mechanisms }}
mechanisms = {{ toJson . }}
{{- end }}
{{- end }}
{{- end }}
{{- range $j := until (int $.Values.replicaCount) }}
{{- $h := include "strom.podHost" (list $ $j) }}

[[peers]]
id = {{ $j }}
kafka = "{{ $h }}:{{ $p.kafka }}"
wal = "{{ $h }}:{{ $p.replication }}"
raft = "{{ $h }}:{{ $p.raft }}"
{{- end }}
{{- end -}}

{{/* Refuse values that cannot work, at render time. */}}
{{- define "strom.validate" -}}
{{- $n := int .Values.replicaCount -}}
{{- if lt $n 1 -}}{{- fail "replicaCount must be at least 1" -}}{{- end -}}
{{- if gt (int .Values.defaultReplicationFactor) $n -}}{{- fail (printf "defaultReplicationFactor %d exceeds replicaCount %d" (int .Values.defaultReplicationFactor) $n) -}}{{- end -}}
{{- if gt (int .Values.minInsyncReplicas) (int .Values.defaultReplicationFactor) -}}{{- fail "minInsyncReplicas exceeds defaultReplicationFactor" -}}{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) -}}{{- fail "tls.enabled needs tls.existingSecret (a kubernetes.io/tls Secret)" -}}{{- end -}}
{{- if and .Values.sasl.enabled (not .Values.sasl.existingSecret) -}}{{- fail "sasl.enabled needs sasl.existingSecret (one key per user, the password)" -}}{{- end -}}
{{- if not (has .Values.tls.clientAuth (list "none" "requested" "required")) -}}{{- fail "tls.clientAuth must be none, requested or required" -}}{{- end -}}
{{- end -}}

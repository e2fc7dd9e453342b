{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "tbt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: <release>-<chart> unless the release name already
contains the chart's name.
*/}}
{{- define "tbt.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tbt.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tbt.labels" -}}
helm.sh/chart: {{ include "tbt.chart" . }}
{{ include "tbt.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tbt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tbt.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tbt.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The agents of one environment (Deployment and Service): call with
(dict "root" $ "env" $env). At most 63 characters: <fullname>-agent-<env>.
*/}}
{{- define "tbt.agentName" -}}
{{- $room := sub 56 (len .env.name) | int }}
{{- printf "%s-agent-%s" (include "tbt.fullname" .root | trunc $room | trimSuffix "-") .env.name }}
{{- end }}

{{- define "tbt.agentSelectorLabels" -}}
{{ include "tbt.selectorLabels" .root }}
app.kubernetes.io/component: agent
tbt-environment: {{ .env.name }}
{{- end }}

{{/*
The coordinator Job. As a hook it keeps one name (helm deletes the previous
one before creating it again); as a plain Job its pod template cannot change
in place, so every revision gets its own Job.
*/}}
{{- define "tbt.coordinatorName" -}}
{{- $base := printf "%s-coordinator" (include "tbt.fullname" . | trunc 45 | trimSuffix "-") }}
{{- if .Values.coordinator.hook }}
{{- $base }}
{{- else }}
{{- printf "%s-%d" $base (int .Release.Revision) }}
{{- end }}
{{- end }}

{{- define "tbt.testsConfigMapName" -}}
{{- .Values.coordinator.testsConfigMap | default (printf "%s-tests" (include "tbt.fullname" .)) }}
{{- end }}

{{- define "tbt.kafkaSecretName" -}}
{{- .Values.kafka.existingSecret | default (printf "%s-kafka" (include "tbt.fullname" .)) }}
{{- end }}

{{/*
"true" when agents and coordinator read a librdkafka properties file
(--kafka-config /etc/tbt/kafka/kafka.properties), empty otherwise.
*/}}
{{- define "tbt.kafkaConfigEnabled" -}}
{{- if or .Values.kafka.existingSecret .Values.kafka.sasl.enabled .Values.kafka.tls.enabled .Values.kafka.config }}true{{ end }}
{{- end }}

{{/*
The librdkafka properties file (key=value lines, as tbt --kafka-config reads
it: the value is the rest of the line, so no quoting).
*/}}
{{- define "tbt.kafkaProperties" -}}
# librdkafka properties for tbt, rendered by the tbt chart.
security.protocol={{ if .Values.kafka.sasl.enabled }}{{ if .Values.kafka.tls.enabled }}SASL_SSL{{ else }}SASL_PLAINTEXT{{ end }}{{ else if .Values.kafka.tls.enabled }}SSL{{ else }}PLAINTEXT{{ end }}
{{- if .Values.kafka.sasl.enabled }}
sasl.mechanisms={{ .Values.kafka.sasl.mechanism }}
sasl.username={{ .Values.kafka.sasl.username }}
sasl.password={{ .Values.kafka.sasl.password }}
{{- end }}
{{- if .Values.kafka.tls.caCert }}
ssl.ca.location=/etc/tbt/kafka/ca.pem
{{- end }}
{{- range $key, $value := .Values.kafka.config }}
{{ $key }}={{ $value }}
{{- end }}
{{ end }}

{{/* Every environment's name, joined by ',' (tbt run --env). */}}
{{- define "tbt.envNames" -}}
{{- $names := list }}
{{- range .Values.environments }}
{{- $names = append $names .name }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/*
Checks the schema cannot express; renders nothing.
*/}}
{{- define "tbt.validate" -}}
{{- if not .Values.environments }}
{{- fail "environments: list at least one environment" }}
{{- end }}
{{- $seen := dict }}
{{- range .Values.environments }}
{{- if hasKey $seen .name }}
{{- fail (printf "environments: %q is listed twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- if and .Values.coordinator.enabled (not .Values.coordinator.testsConfigMap) (not .Values.tests) }}
{{- fail "coordinator.enabled needs tests (file name -> definition) or coordinator.testsConfigMap" }}
{{- end }}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.existingSecret) (or (not .Values.kafka.sasl.username) (not .Values.kafka.sasl.password)) }}
{{- fail "kafka.sasl.enabled needs kafka.sasl.username and kafka.sasl.password (or kafka.existingSecret)" }}
{{- end }}
{{- end }}

{{/* checksum/secret: rolls the pods when the rendered Kafka settings change. */}}
{{- define "tbt.secretChecksum" -}}
{{- include (print .Template.BasePath "/kafka-secret.yaml") . | sha256sum }}
{{- end }}

{{/* The chart's name, or nameOverride. */}}
{{- define "scp-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of every object: fullnameOverride, or the release name with the chart's name. */}}
{{- define "scp-exporter.fullname" -}}
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

{{- define "scp-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scp-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scp-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "scp-exporter.labels" -}}
helm.sh/chart: {{ include "scp-exporter.chart" . }}
{{ include "scp-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: scp-exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
  image: [registry/]repository:tag, or [registry/]repository@digest; the
  registry is global.imageRegistry, else image.registry.
*/}}
{{- define "scp-exporter.image" -}}
{{- $registry := .Values.image.registry }}
{{- with .Values.global }}{{ with .imageRegistry }}{{ $registry = . }}{{ end }}{{ end }}
{{- $repository := .Values.image.repository }}
{{- if $registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" $registry) $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The ServiceAccount's name: serviceAccount.name, else the fullname when the chart creates it, else "default". */}}
{{- define "scp-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scp-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
  The path of /metrics: serviceMonitor.path, else the last
  --web.telemetry-path=... of extraArgs, else /metrics.
*/}}
{{- define "scp-exporter.metricsPath" -}}
{{- $path := "/metrics" }}
{{- range .Values.extraArgs }}
{{- if hasPrefix "--web.telemetry-path=" . }}
{{- $path = trimPrefix "--web.telemetry-path=" . }}
{{- end }}
{{- end }}
{{- default $path .Values.serviceMonitor.path }}
{{- end }}

{{/* config.yml: .Values.config as YAML, or as is when it is a string. */}}
{{- define "scp-exporter.config" -}}
{{- if kindIs "string" .Values.config }}
{{- .Values.config }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/* HTTP or HTTPS, checked. */}}
{{- define "scp-exporter.scheme" -}}
{{- $scheme := upper .Values.webConfig.scheme }}
{{- if not (has $scheme (list "HTTP" "HTTPS")) }}
{{- fail (printf "webConfig.scheme must be HTTP or HTTPS, not %q" .Values.webConfig.scheme) }}
{{- end }}
{{- $scheme }}
{{- end }}

{{/*
  The mixin's default scpExporterSelector, as the rules file carries it:
  what prometheusRule.exporterSelector replaces.
*/}}
{{- define "scp-exporter.mixinExporterSelector" -}}
job=~".*scp[-_]exporter.*"
{{- end }}

{{/*
  The job label a ServiceMonitor of this release gives: the value of the
  Service's label serviceMonitor.jobLabel when the Service has it, else the
  Service's name (as the Prometheus Operator sets it).
*/}}
{{- define "scp-exporter.serviceMonitorJob" -}}
{{- $job := include "scp-exporter.fullname" . }}
{{- with .Values.serviceMonitor.jobLabel }}
{{- $labels := merge (dict) ($.Values.service.labels | default (dict)) (include "scp-exporter.labels" $ | fromYaml) }}
{{- with index $labels . }}{{ $job = toString . }}{{ end }}
{{- end }}
{{- $job }}
{{- end }}

{{/*
scp-exporter.goMemLimit: goMemLimitRatio of resources.limits.memory, in
bytes, for GOMEMLIMIT; empty when either is unset or 0, or when extraEnv
sets GOMEMLIMIT itself. A limit the template cannot read fails the render.
*/}}
{{- define "scp-exporter.goMemLimit" -}}
{{- $ratio := float64 (.Values.goMemLimitRatio | default 0) -}}
{{- $limit := "" -}}
{{- with .Values.resources }}{{ with .limits }}{{ with .memory }}{{ $limit = kindIs "float64" . | ternary (printf "%.0f" .) (toString .) }}{{ end }}{{ end }}{{ end -}}
{{- $own := false -}}
{{- range .Values.extraEnv }}{{ if eq (toString .name) "GOMEMLIMIT" }}{{ $own = true }}{{ end }}{{ end -}}
{{- if and (gt $ratio 0.0) $limit (not $own) -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $limit -}}
{{- $suffix := trimPrefix $number $limit -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $number) (not (hasKey $units $suffix)) -}}
{{- fail (printf "goMemLimitRatio: resources.limits.memory %q is not a quantity this chart reads (a number with no suffix or one of k, M, G, T, Ki, Mi, Gi, Ti): set GOMEMLIMIT in extraEnv, or goMemLimitRatio: 0" $limit) -}}
{{- end -}}
{{- printf "%d" (int64 (mulf (mulf (float64 $number) (float64 (get $units $suffix))) $ratio)) -}}
{{- end -}}
{{- end }}

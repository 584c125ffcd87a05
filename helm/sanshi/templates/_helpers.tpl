{{/* Names: <release>-<service>; the chart's labels. */}}
{{- define "sanshi.name" -}}
{{- printf "%s-%s" .root.Release.Name .service | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "sanshi.labels" -}}
app.kubernetes.io/name: sanshi
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "sanshi.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{/* By digest when one is given (production), else by tag. */}}
{{- define "sanshi.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/*
The platform's shape, fixed by the code: the event streams each service
follows (`consumers.<producer>_url`), and the services that keep personal
data or remember responses that may hold it (`pii.*` keys).
*/}}
{{- define "sanshi.follows" -}}
identity: [qualification]
qualification: []
matching: [qualification, incentive]
records: [matching]
incentive: [records, qualification]
notification: [qualification, matching, records, incentive]
gateway: []
{{- end }}

{{- define "sanshi.personalData" -}}
[identity, qualification, matching, records, incentive]
{{- end }}

{{/* http://<release>-<service>:<port> of a service named in .target. */}}
{{- define "sanshi.url" -}}
{{- $svc := index .root.Values.services .target -}}
http://{{ include "sanshi.name" (dict "root" .root "service" .target) }}:{{ $svc.port }}
{{- end }}

{{/* Restricted pod security: every container runs so. */}}
{{- define "sanshi.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "sanshi.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* A service's plain configuration (SANSHI_<SECTION>__<KEY>: value), for its ConfigMap. */}}
{{- define "sanshi.config" -}}
{{- $root := .root -}}
{{- $name := .service -}}
{{- $svc := index $root.Values.services $name -}}
SANSHI_SERVER__PORT: {{ $svc.port | quote }}
SANSHI_SERVER__ADMIN_PORT: {{ $root.Values.adminPort | quote }}
SANSHI_TELEMETRY__LOG_LEVEL: {{ $root.Values.telemetry.logLevel | quote }}
{{- with $root.Values.telemetry.otlpEndpoint }}
SANSHI_TELEMETRY__OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- if and (ne $name "gateway") (ne $name "identity") }}
SANSHI_AUTH__IDENTITY_URL: {{ include "sanshi.url" (dict "root" $root "target" "identity") | quote }}
{{- end }}
{{- range $producer := index (fromYaml (include "sanshi.follows" $root)) $name }}
SANSHI_CONSUMERS__{{ upper $producer }}_URL: {{ include "sanshi.url" (dict "root" $root "target" $producer) | quote }}
{{- end }}
{{- if eq $name "gateway" }}
{{- range $upstream := list "identity" "qualification" "matching" "records" "incentive" "notification" }}
SANSHI_UPSTREAMS__{{ upper $upstream }}_URL: {{ include "sanshi.url" (dict "root" $root "target" $upstream) | quote }}
{{- end }}
{{- end }}
{{- if eq $name "records" }}
SANSHI_ATTACHMENTS__LOCAL_PATH: /var/lib/sanshi/attachments
{{- end }}
{{- if and (eq $name "notification") $svc.webhookAllowedPrivateCIDRs }}
SANSHI_WEBHOOK__ALLOWED_PRIVATE_CIDRS: {{ join "," $svc.webhookAllowedPrivateCIDRs | quote }}
{{- end }}
{{- if and (eq $name "gateway") $root.Values.federation.enabled }}
{{- $f := $root.Values.federation }}
SANSHI_FEDERATION__ENABLED: "true"
SANSHI_FEDERATION__PORT: {{ $f.port | quote }}
SANSHI_FEDERATION__PLATFORM: {{ $f.platform | quote }}
SANSHI_FEDERATION__PROVINCE_CODE: {{ $f.provinceCode | quote }}
SANSHI_FEDERATION__CERT_PATH: /etc/sanshi/federation/tls.crt
SANSHI_FEDERATION__KEY_PATH: /etc/sanshi/federation/tls.key
SANSHI_FEDERATION__CLIENT_ID: gateway
{{- end }}
{{- range $key, $value := $svc.env }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* A service's secret configuration: environment entries read from Secrets. */}}
{{- define "sanshi.secretEnv" -}}
{{- $root := .root -}}
{{- $name := .service -}}
{{- $svc := index $root.Values.services $name -}}
{{- if ne $name "gateway" }}
- name: SANSHI_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ $svc.databaseSecret }}
      key: url
{{- end }}
{{- if and (ne $name "gateway") (ne $name "identity") }}
- name: SANSHI_AUTH__CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secrets.serviceCredentials }}
      key: {{ $name }}
{{- end }}
{{- if eq $name "gateway" }}
{{- /* The gateway's account in identity: sign-ins carry the client's address with it; federation uses it too. */}}
- name: SANSHI_FEDERATION__CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secrets.serviceCredentials }}
      key: gateway
{{- end }}
{{- if has $name (fromYamlArray (include "sanshi.personalData" $root)) }}
- name: SANSHI_PII__ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secrets.pii }}
      key: encryption_key
- name: SANSHI_PII__HASH_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secrets.pii }}
      key: hash_key
{{- end }}
{{- end }}

{{/* The gateway's peers (a TOML file: arrays of tables do not fit environment variables). */}}
{{- define "sanshi.federationPeers" -}}
[federation]
peers = [
{{- range $i, $p := .Values.federation.peers }}
  { name = {{ $p.name | quote }}, province_code = {{ $p.province_code | quote }}, ca_path = "/etc/sanshi/federation/{{ $p.name }}-ca.pem", names = [{{ range $j, $n := ($p.names | default list) }}{{ if $j }}, {{ end }}{{ $n | quote }}{{ end }}], allow = [{{ range $j, $o := ($p.allow | default list) }}{{ if $j }}, {{ end }}{{ $o | quote }}{{ end }}], url = {{ $p.url | default "" | quote }} },
{{- end }}
]
{{- end }}

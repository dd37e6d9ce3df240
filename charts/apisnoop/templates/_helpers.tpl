{{/* Base name of every resource: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "apisnoop.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object; `app.kubernetes.io/part-of: apisnoop` is also what keeps the webhook off apisnoop's own pods. */}}
{{- define "apisnoop.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: apisnoop
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "proxy"). */}}
{{- define "apisnoop.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "apisnoop.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* The DNS name pods use to reach the proxy (reverse mode: their KUBERNETES_SERVICE_HOST). */}}
{{- define "apisnoop.proxyHost" -}}
{{ include "apisnoop.fullname" . }}-proxy.{{ .Release.Namespace }}.svc
{{- end -}}

{{/*
The generated material, computed once per render and cached in .Values so every template sees the same
values: given values win, then the values of the Secret already in the cluster (`lookup`, so an upgrade
keeps the CA, token and password), then fresh random ones. `helm template` has no cluster, so it generates
unless `--dry-run=server` lets lookup read the live Secret.
*/}}
{{- define "apisnoop.generated" -}}
{{- if not (hasKey .Values "apisnoopGenerated") -}}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace (include "apisnoop.fullname" .)) | default dict -}}
{{- $old := get $existing "data" | default dict -}}
{{- $g := dict -}}
{{- if and .Values.secrets.caCert .Values.secrets.caKey -}}
{{- $_ := set $g "caCert" .Values.secrets.caCert -}}
{{- $_ := set $g "caKey" .Values.secrets.caKey -}}
{{- else if and (hasKey $old "ca.crt") (hasKey $old "ca.key") -}}
{{- $_ := set $g "caCert" (get $old "ca.crt" | b64dec) -}}
{{- $_ := set $g "caKey" (get $old "ca.key" | b64dec) -}}
{{- else -}}
{{- $ca := genCA "apisnoop proxy CA" 3650 -}}
{{- $_ := set $g "caCert" $ca.Cert -}}
{{- $_ := set $g "caKey" $ca.Key -}}
{{- end -}}
{{- if .Values.secrets.ingestToken -}}
{{- $_ := set $g "ingestToken" .Values.secrets.ingestToken -}}
{{- else if hasKey $old "ingest-token" -}}
{{- $_ := set $g "ingestToken" (get $old "ingest-token" | b64dec) -}}
{{- else -}}
{{- $_ := set $g "ingestToken" (randAlphaNum 40) -}}
{{- end -}}
{{- if .Values.postgresql.password -}}
{{- $_ := set $g "postgresPassword" .Values.postgresql.password -}}
{{- else if hasKey $old "postgres-password" -}}
{{- $_ := set $g "postgresPassword" (get $old "postgres-password" | b64dec) -}}
{{- else -}}
{{- $_ := set $g "postgresPassword" (randAlphaNum 32) -}}
{{- end -}}
{{- if .Values.web.auth.password -}}
{{- $_ := set $g "dashboardPassword" .Values.web.auth.password -}}
{{- else if hasKey $old "dashboard-password" -}}
{{- $_ := set $g "dashboardPassword" (get $old "dashboard-password" | b64dec) -}}
{{- else -}}
{{- $_ := set $g "dashboardPassword" (randAlphaNum 32) -}}
{{- end -}}
{{- /* The webhook's serving certificate is kept while the CA that signed it is kept. */ -}}
{{- if and (hasKey $old "webhook-tls.crt") (eq (get $old "ca.crt" | default "" | b64dec) $g.caCert) -}}
{{- $_ := set $g "webhookCert" (get $old "webhook-tls.crt" | b64dec) -}}
{{- $_ := set $g "webhookKey" (get $old "webhook-tls.key" | b64dec) -}}
{{- else -}}
{{- $svc := printf "%s-webhook" (include "apisnoop.fullname" .) -}}
{{- $names := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc .Release.Namespace) nil $names 3650 (buildCustomCert ($g.caCert | b64enc) ($g.caKey | b64enc)) -}}
{{- $_ := set $g "webhookCert" $cert.Cert -}}
{{- $_ := set $g "webhookKey" $cert.Key -}}
{{- end -}}
{{- $_ := set .Values "apisnoopGenerated" $g -}}
{{- end -}}
{{- end -}}

{{/* DATABASE_URL as an EnvVar: from the chart's Secret (bundled PostgreSQL) or the external Secret. */}}
{{- define "apisnoop.databaseUrlEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.postgresql.enabled }}
      name: {{ include "apisnoop.fullname" . }}
      key: database-url
      {{- else }}
      name: {{ required "externalDatabase.existingSecret is required when postgresql.enabled is false" .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.urlKey }}
      {{- end }}
{{- end -}}

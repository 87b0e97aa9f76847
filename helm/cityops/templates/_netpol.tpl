{{/* NetworkPolicy building blocks. Argument: the root context. */}}

{{- define "cityops.np.namespaceSelector" -}}
{{- if . -}}
namespaceSelector:
  matchLabels: {kubernetes.io/metadata.name: {{ . | quote }}}
{{- end -}}
{{- end -}}

{{- define "cityops.np.egressDns" -}}
- to:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace | quote }}}
      podSelector:
        matchLabels: {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end -}}

{{- define "cityops.np.egressKafka" -}}
{{- $k := .Values.kafka -}}
{{- if $k.externalKafka.enabled }}
- ports:
    {{- range $k.externalKafka.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
  {{- with $k.externalKafka.cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- else }}
- to:
    - podSelector:
        matchLabels: {strimzi.io/cluster: {{ $k.strimzi.cluster | quote }}, strimzi.io/kind: Kafka}
      {{- include "cityops.np.namespaceSelector" $k.strimzi.namespace | nindent 6 }}
  ports:
    {{- range $k.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "cityops.np.egressDatabase" -}}
- to:
    - podSelector:
        matchLabels: {cnpg.io/cluster: {{ .Values.database.cnpgCluster | quote }}}
      {{- include "cityops.np.namespaceSelector" .Values.database.namespace | nindent 6 }}
  ports:
    - {port: {{ .Values.database.port }}, protocol: TCP}
{{- end -}}

{{- define "cityops.np.egressOtel" -}}
{{- with .Values.observability.otel }}
{{- if .enabled }}
- ports:
    - {port: {{ .port }}, protocol: TCP}
  {{- with .namespace }}
  to:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: {{ . | quote }}}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "cityops.np.ingressMetrics" -}}
- from:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: {{ .Values.networkPolicy.prometheus.namespace | quote }}}
  ports:
    - {port: {{ .Values.config.metricsPort }}, protocol: TCP}
{{- end -}}

{{/* Pods of this release with a given component: (dict "root" $ "component" "gateway-api") */}}
{{- define "cityops.np.peer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .root.Release.Name }}
      app.kubernetes.io/component: {{ .component }}
{{- end -}}

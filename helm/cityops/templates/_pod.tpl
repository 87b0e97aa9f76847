{{/*
Pod-level helpers shared by every Deployment, Job and the test Pod.
Argument: (dict "root" $ "svc" "incidents" "component" "incidents-api" "kind" "api|worker|job")
*/}}

{{- define "cityops.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
{{- with .Values.podSecurityContext.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cityops.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* Environment wiring: ConfigMap for plain settings, secretKeyRef for every secret. */}}
{{- define "cityops.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: OTEL_SERVICE_NAME
  value: {{ printf "cityops-%s" .component | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),service.namespace=cityops,service.version=%s" $root.Chart.AppVersion | quote }}
{{- if ne .svc "gateway" }}
- name: CITYOPS_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ $v.database.existingSecret | quote }}, key: {{ $v.database.uriKey | quote }}}
{{- end }}
{{- /* Every process: outside local none starts without a real signing key (settings.py). */}}
- name: CITYOPS_JWT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "cityops.jwtSecretName" $root | quote }}, key: {{ $v.auth.jwt.key | quote }}}
{{- if $v.kafka.sasl.enabled }}
{{- $cred := include "cityops.kafkaCredentials" (dict "root" $root "component" .component) | fromYaml }}
- name: CITYOPS_KAFKA_SASL_USERNAME
{{- if $cred.username }}
  value: {{ $cred.username | quote }}
{{- else }}
  valueFrom:
    secretKeyRef: {name: {{ $cred.secret | quote }}, key: {{ $cred.usernameKey | quote }}}
{{- end }}
- name: CITYOPS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $cred.secret | quote }}, key: {{ $cred.passwordKey | quote }}}
{{- end }}
{{- if eq .svc "notifications" }}
{{- include "cityops.notificationsEnv" $root }}
{{- end }}
{{- if or (eq .svc "notifications") (eq .svc "gateway") (and (eq .svc "incidents") (eq .kind "api")) }}
{{- include "cityops.ratingLinkEnv" $root }}
{{- end }}
{{- if and (eq .svc "incidents") (eq .kind "api") }}
{{- $p := $v.phoneHashKey }}
- name: CITYOPS_INCIDENTS_PHONE_HASH_KEY
  valueFrom:
    secretKeyRef: {name: {{ $p.existingSecret | default (include "cityops.appKeysSecretName" $root) | quote }}, key: {{ $p.key | quote }}}
{{- with $p.previous }}{{- if .existingSecret }}
- name: CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .key | quote }}}
{{- end }}{{- end }}
{{- end }}
{{- if and (eq .svc "incidents") (eq .kind "worker") }}
- {name: CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS, value: {{ $v.incidents.requestKeyRetentionDays | quote }}}
{{- end }}
{{- if and (eq .svc "dispatch") (eq .kind "worker") }}
- {name: CITYOPS_DISPATCH_REQUEST_KEY_RETENTION_DAYS, value: {{ $v.dispatch.requestKeyRetentionDays | quote }}}
{{- end }}
{{- if eq .svc "gateway" }}
{{- include "cityops.forwardedAllowIps" $root }}
{{- end }}
{{- if and (has .svc (list "dispatch" "notifications")) $v.standards.volume }}
- {name: CITYOPS_STANDARDS_DIR, value: {{ $v.standards.mountPath | quote }}}
{{- end }}
{{- if and $v.tls.enabled (eq .kind "api") }}
{{- include "cityops.grpcTlsEnv" . }}
{{- end }}
{{- with .extraEnv }}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* SMTP, SMS gateway and the webhook-secret key of the notifications service, from Secrets you manage. */}}
{{- define "cityops.notificationsEnv" -}}
{{- $n := .Values.notifications -}}
{{- with $n.smtp }}
{{- if .host }}
- {name: CITYOPS_SMTP_HOST, value: {{ .host | quote }}}
- {name: CITYOPS_SMTP_PORT, value: {{ .port | quote }}}
- {name: CITYOPS_SMTP_STARTTLS, value: {{ .starttls | quote }}}
{{- end }}
{{- if .from }}
- {name: CITYOPS_SMTP_FROM, value: {{ .from | quote }}}
{{- end }}
{{- if .existingSecret }}
- name: CITYOPS_SMTP_USER
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .usernameKey | quote }}}
- name: CITYOPS_SMTP_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .passwordKey | quote }}}
{{- end }}
{{- end }}
{{- with $n.sms }}
{{- if .gatewayUrl }}
- {name: CITYOPS_SMS_GATEWAY_URL, value: {{ .gatewayUrl | quote }}}
{{- end }}
{{- if .existingSecret }}
- name: CITYOPS_SMS_GATEWAY_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | quote }}, key: {{ .apiKeyKey | quote }}}
{{- end }}
{{- end }}
{{- with $n.secretKey }}
- name: CITYOPS_NOTIFY_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret | default (include "cityops.appKeysSecretName" $) | quote }}, key: {{ .key | quote }}}
{{- end }}
{{- end -}}

{{/* Rating links: the signing key (a Secret) and the public base URL. Argument: the root context. */}}
{{- define "cityops.ratingLinkEnv" -}}
{{- $r := .Values.ratingLink }}
- name: CITYOPS_RATING_LINK_SECRET
  valueFrom:
    secretKeyRef: {name: {{ $r.existingSecret | default (include "cityops.appKeysSecretName" .) | quote }}, key: {{ $r.key | quote }}}
{{- $base := $r.baseUrl }}
{{- if and (not $base) .Values.ingress.enabled .Values.ingress.hosts }}
{{- $base = printf "https://%s" (first .Values.ingress.hosts).host }}
{{- end }}
{{- with $base }}
- {name: CITYOPS_RATING_LINK_BASE_URL, value: {{ . | quote }}}
{{- end }}
{{- end -}}

{{/*
gRPC TLS of an api container (docs/security.md): its certificate serves (and, with tls.mutual, the CA
checks callers); the gateway and dispatch also call with it (client certificate) and trust the CA.
*/}}
{{- define "cityops.grpcTlsEnv" -}}
{{- $dir := "/etc/cityops/grpc-tls" }}
{{- if ne .svc "gateway" }}
- {name: CITYOPS_GRPC_TLS_CERT, value: {{ printf "%s/tls.crt" $dir | quote }}}
- {name: CITYOPS_GRPC_TLS_KEY, value: {{ printf "%s/tls.key" $dir | quote }}}
{{- if .root.Values.tls.mutual }}
- {name: CITYOPS_GRPC_TLS_CLIENT_CA, value: {{ printf "%s/ca.crt" $dir | quote }}}
{{- end }}
{{- end }}
{{- if include "cityops.grpcClient" .svc }}
- {name: CITYOPS_GRPC_TLS_SERVER_CA, value: {{ printf "%s/ca.crt" $dir | quote }}}
- {name: CITYOPS_GRPC_TLS_CLIENT_CERT, value: {{ printf "%s/tls.crt" $dir | quote }}}
- {name: CITYOPS_GRPC_TLS_CLIENT_KEY, value: {{ printf "%s/tls.key" $dir | quote }}}
{{- end }}
{{- end -}}

{{/* envFrom of an app container: the release ConfigMap, then pod.extraEnvFrom, then the component's. */}}
{{- define "cityops.envFrom" -}}
- configMapRef: {name: {{ include "cityops.fullname" .root }}-config}
{{- with .root.Values.pod.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- with .cfg.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod template labels: the user's (pod.labels, then the component's podLabels) under the chart's, which win. */}}
{{- define "cityops.podLabels" -}}
{{- $chart := include "cityops.labels" . | fromYaml -}}
{{- $cfg := .cfg | default dict -}}
{{- toYaml (merge $chart (.root.Values.pod.labels | default dict) ($cfg.podLabels | default dict)) -}}
{{- end -}}

{{/* Pod template annotations: pod.annotations, then the component's podAnnotations (which win). */}}
{{- define "cityops.podAnnotations" -}}
{{- $cfg := .cfg | default dict -}}
{{- $out := merge (dict) ($cfg.podAnnotations | default dict) (.root.Values.pod.annotations | default dict) -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- define "cityops.priorityClassName" -}}
{{- $cfg := .cfg | default dict -}}
{{- with ($cfg.priorityClassName | default .root.Values.pod.priorityClassName) }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "cityops.volumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 256Mi}
{{- if eq .kind "worker" }}
- name: data
  emptyDir: {sizeLimit: {{ .dataSize | default "2Gi" }}}
{{- end }}
{{- if .root.Values.kafka.tls.enabled }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.tls.caSecret }}
    items: [{key: {{ .root.Values.kafka.tls.caKey | quote }}, path: ca.crt}]
{{- end }}
{{- if and .root.Values.tls.enabled (eq .kind "api") }}
- name: grpc-tls
  secret:
    secretName: {{ include "cityops.tlsSecretName" . }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- with .root.Values.city }}
{{- if .configMap }}
- name: city
  configMap: {name: {{ .configMap | quote }}}
{{- else if .volume }}
- name: city
  {{- toYaml .volume | nindent 2 }}
{{- end }}
{{- end }}
{{- if and (has .svc (list "dispatch" "notifications")) .root.Values.standards.volume }}
- name: standards
  {{- toYaml .root.Values.standards.volume | nindent 2 }}
{{- end }}
{{- with .root.Values.pod.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- with (.cfg | default dict).extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "cityops.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if eq .kind "worker" }}
- {name: data, mountPath: /var/lib/cityops/data}
{{- end }}
{{- if .root.Values.kafka.tls.enabled }}
- {name: kafka-ca, mountPath: /etc/cityops/kafka-ca, readOnly: true}
{{- end }}
{{- if and .root.Values.tls.enabled (eq .kind "api") }}
- {name: grpc-tls, mountPath: /etc/cityops/grpc-tls, readOnly: true}
{{- end }}
{{- with .root.Values.city }}
{{- if or .configMap .volume }}
- {name: city, mountPath: {{ printf "%s/%s" .mountPath .name | quote }}, readOnly: true}
{{- end }}
{{- end }}
{{- if and (has .svc (list "dispatch" "notifications")) .root.Values.standards.volume }}
- {name: standards, mountPath: {{ .root.Values.standards.mountPath | quote }}, readOnly: true}
{{- end }}
{{- with .root.Values.pod.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- with (.cfg | default dict).extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Anti-affinity and topology spread computed from the component's own selector labels. */}}
{{- define "cityops.scheduling" -}}
{{- $ha := .root.Values.ha -}}
{{- $sel := include "cityops.selectorLabels" . | fromYaml -}}
{{- if eq $ha.podAntiAffinity "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels: {{- toYaml $sel | nindent 14 }}
{{- else if eq $ha.podAntiAffinity "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels: {{- toYaml $sel | nindent 12 }}
{{- end }}
{{- with $ha.topologySpread }}
topologySpreadConstraints:
{{- range . }}
  - topologyKey: {{ .topologyKey }}
    maxSkew: {{ .maxSkew }}
    whenUnsatisfiable: {{ .whenUnsatisfiable }}
    matchLabelKeys: [pod-template-hash]
    labelSelector:
      matchLabels: {{- toYaml $sel | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "cityops.podCommon" -}}
serviceAccountName: {{ include "cityops.componentName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- include "cityops.podSecurityContext" .root | nindent 2 }}
{{- include "cityops.priorityClassName" . }}
{{- with .cfg.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "cityops.scheduling" . }}
{{- end -}}

{{/* A gRPC health probe: (dict "root" $ "port" 50051 "service" "liveness"|""). Native when plaintext. */}}
{{- define "cityops.grpcProbe" -}}
{{- if .root.Values.tls.enabled -}}
{{- $dir := "/etc/cityops/grpc-tls" }}
{{- $cmd := list "cityops" "health" "--addr" (printf "localhost:%d" (int .port)) "--tls-ca" (printf "%s/ca.crt" $dir) "--tls-cert" (printf "%s/tls.crt" $dir) "--tls-key" (printf "%s/tls.key" $dir) -}}
{{- if .service }}{{ $cmd = concat $cmd (list "--service" .service) }}{{ end -}}
exec:
  command: {{ toJson $cmd }}
{{- else -}}
grpc: {port: {{ .port }}{{ if .service }}, service: {{ .service }}{{ end }}}
{{- end -}}
{{- end -}}

{{/* uvicorn's proxy trust for the gateway: only the ingress / Gateway API proxies (docs/security.md). */}}
{{- define "cityops.forwardedAllowIps" -}}
{{- $proxies := .Values.services.gateway.trustedProxies | default list }}
{{- if and (or .Values.ingress.enabled .Values.httpRoute.enabled) (not $proxies) }}
{{- fail "services.gateway.trustedProxies: cần địa chỉ/CIDR của ingress controller khi bật ingress/httpRoute / required with ingress or httpRoute: the proxies' pod addresses or CIDRs (else every client shares the proxy's address)" }}
{{- end }}
{{- if $proxies }}
- {name: FORWARDED_ALLOW_IPS, value: {{ join "," $proxies | quote }}}
{{- end }}
{{- end }}

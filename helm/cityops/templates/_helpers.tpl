{{/*
Helpers of the CityOps chart. Every name starts with "cityops." so that they never collide with a
parent chart's helpers.
*/}}

{{- define "cityops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cityops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cityops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: (dict "root" $ "component" "incidents-api") */}}
{{- define "cityops.componentName" -}}
{{- printf "%s-%s" (include "cityops.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cityops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cityops.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cityops.labels" -}}
helm.sh/chart: {{ include "cityops.chart" .root }}
{{ include "cityops.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: cityops
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "cityops.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Kafka topic name as the apps see it (CITYOPS_TOPIC_PREFIX applies to every topic). */}}
{{- define "cityops.topicName" -}}
{{- printf "%s%s" .root.Values.config.topicPrefix .name -}}
{{- end -}}

{{/* The Faust app id and consumer group (cityops_platform.faust_app.consumer_group): (dict "root" $ "svc" "incidents") */}}
{{- define "cityops.consumerGroup" -}}
{{- printf "%scityops-%s-worker" .root.Values.config.topicPrefix .svc -}}
{{- end -}}

{{/*
Capability guards: CRs render only where the cluster serves their API.

Strimzi: `kafka.strimzi.apiVersion` forces the API (GitOps renders without a cluster); empty picks
kafka.strimzi.io/v1 (Strimzi 1.x, and 0.49+ beside v1beta2) when the cluster serves it, else
kafka.strimzi.io/v1beta2 (Strimzi 0.4x/0.5x). Both "group/version" and "group/version/Kind" count, so
`helm template --api-versions kafka.strimzi.io/v1` works like a live cluster's discovery.
Returns the apiVersion, or "" when Strimzi is not needed (externalKafka, or topics and users off).
Fails, instead of silently falling back, when Strimzi is wanted but the cluster serves neither.
*/}}
{{- define "cityops.strimziApi" -}}
{{- $s := .Values.kafka.strimzi -}}
{{- $k := .Values.kafka -}}
{{- $wanted := and (not $k.externalKafka.enabled) (or $s.topics (and $s.users $k.sasl.enabled)) -}}
{{- if $wanted -}}
{{- $api := $s.apiVersion -}}
{{- if not $api -}}
{{- $caps := .Capabilities.APIVersions -}}
{{- if or ($caps.Has "kafka.strimzi.io/v1/KafkaTopic") ($caps.Has "kafka.strimzi.io/v1/KafkaUser") ($caps.Has "kafka.strimzi.io/v1") -}}
{{- $api = "kafka.strimzi.io/v1" -}}
{{- else if or ($caps.Has "kafka.strimzi.io/v1beta2/KafkaTopic") ($caps.Has "kafka.strimzi.io/v1beta2/KafkaUser") ($caps.Has "kafka.strimzi.io/v1beta2") -}}
{{- $api = "kafka.strimzi.io/v1beta2" -}}
{{- end -}}
{{- end -}}
{{- if not $api -}}
{{- fail "Strimzi được yêu cầu nhưng cụm không phục vụ kafka.strimzi.io/v1 hay v1beta2 / Strimzi is requested (kafka.strimzi.topics or users) but the cluster serves neither kafka.strimzi.io/v1 nor kafka.strimzi.io/v1beta2. Install Strimzi (0.4x or later) in the cluster; or, rendering without a cluster (helm template, GitOps), set kafka.strimzi.apiVersion or pass --api-versions kafka.strimzi.io/v1; or, for Kafka not managed by Strimzi, set kafka.externalKafka.enabled=true (topics Job, credentials from Secrets)." -}}
{{- end -}}
{{- $api -}}
{{- end -}}
{{- end -}}

{{- define "cityops.strimziTopics" -}}
{{- if and .Values.kafka.strimzi.topics (include "cityops.strimziApi" .) -}}true{{- end -}}
{{- end -}}

{{- define "cityops.strimziUsers" -}}
{{- if and .Values.kafka.strimzi.users .Values.kafka.sasl.enabled (include "cityops.strimziApi" .) -}}true{{- end -}}
{{- end -}}

{{- define "cityops.keda" -}}
{{- if .Capabilities.APIVersions.Has "keda.sh/v1alpha1" -}}true{{- end -}}
{{- end -}}

{{/* Gateway API: an HTTPRoute that is asked for but cannot be served fails the render (no silent skip). */}}
{{- define "cityops.httpRoute" -}}
{{- if .Values.httpRoute.enabled -}}
{{- $caps := .Capabilities.APIVersions -}}
{{- if or ($caps.Has "gateway.networking.k8s.io/v1/HTTPRoute") ($caps.Has "gateway.networking.k8s.io/v1") -}}true
{{- else -}}
{{- fail "httpRoute.enabled: cụm không phục vụ gateway.networking.k8s.io/v1 / the cluster does not serve gateway.networking.k8s.io/v1 (install the Gateway API CRDs, v1.1 or later; rendering without a cluster: --api-versions gateway.networking.k8s.io/v1)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cityops.serviceMonitor" -}}
{{- if and .Values.observability.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}true{{- end -}}
{{- end -}}

{{/*
Kafka credentials of one process role: (dict "root" $ "component" "incidents-worker"). Returns YAML
with secret, passwordKey, and either username (literal) or usernameKey.
- Strimzi KafkaUser rendered: its Secret (named like the user, key `password`; no username key).
- kafka.sasl.existingSecret set: that Secret, shared by every component.
- otherwise: one Secret per role named like the KafkaUser would be (<fullname>-<component>), with
  usernameKey/passwordKey, so external Kafka keeps least privilege per process role.
*/}}
{{- define "cityops.kafkaCredentials" -}}
{{- $v := .root.Values.kafka.sasl -}}
{{- $perRole := include "cityops.componentName" (dict "root" .root "component" .component) -}}
{{- if include "cityops.strimziUsers" .root -}}
secret: {{ $perRole }}
username: {{ $perRole }}
passwordKey: password
{{- else -}}
secret: {{ default $perRole $v.existingSecret }}
usernameKey: {{ $v.usernameKey }}
passwordKey: {{ $v.passwordKey }}
{{- end -}}
{{- end -}}

{{- define "cityops.kafkaSecurityProtocol" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.sasl.enabled $k.tls.enabled -}}SASL_SSL
{{- else if $k.sasl.enabled -}}SASL_PLAINTEXT
{{- else if $k.tls.enabled -}}SSL
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{- define "cityops.jwtSecretName" -}}
{{- default (printf "%s-jwt" (include "cityops.fullname" .)) .Values.auth.jwt.existingSecret -}}
{{- end -}}

{{/*
Kafka rights per process role (one KafkaUser each), mirrored from the code's catalog
(cityops_platform.kafka.topics.ACCESS; tests/unit/helm keeps them equal). reads: Read+Describe;
writes: Write+Describe; faust: the consumer group, the app's own changelog/repartition topics and the
.dlq of what it reads (dlqWrites). Drives the KafkaUser ACLs and the KEDA triggers.
*/}}
{{- define "cityops.flows" -}}
incidents-api:
  reads: [cityops.incidents.events.v1]
  writes: [cityops.incidents.events.v1]
incidents-worker:
  reads: [cityops.sensors.alerts.v1, cityops.dispatch.events.v1]
  writes: [cityops.incidents.events.v1]
  faust: true
  dlqWrites: [cityops.sensors.alerts.v1.dlq, cityops.dispatch.events.v1.dlq]
dispatch-api:
  reads: [cityops.dispatch.unit-status.v1]
  writes: [cityops.dispatch.events.v1, cityops.dispatch.unit-status.v1, cityops.dispatch.eido-conveyances.v1]
dispatch-worker:
  reads: [cityops.incidents.events.v1, cityops.dispatch.events.v1, cityops.dispatch.unit-status.v1]
  writes: [cityops.dispatch.events.v1, cityops.dispatch.unit-status.v1, cityops.dispatch.eido-conveyances.v1]
  faust: true
  dlqWrites: [cityops.incidents.events.v1.dlq, cityops.dispatch.events.v1.dlq, cityops.dispatch.unit-status.v1.dlq, cityops.dispatch.eido-conveyances.v1.dlq]
sensors-api:
  reads: [cityops.sensors.alerts.v1]
  writes: [cityops.sensors.readings.v1, cityops.sensors.alerts.v1]
sensors-worker:
  reads: [cityops.sensors.readings.v1]
  writes: [cityops.sensors.readings.v1, cityops.sensors.alerts.v1]
  faust: true
  dlqWrites: [cityops.sensors.readings.v1.dlq]
notifications-api:
  reads: []
  writes: [cityops.notifications.deliveries.v1]
notifications-worker:
  reads: [cityops.incidents.events.v1, cityops.dispatch.events.v1, cityops.sensors.alerts.v1]
  writes: [cityops.notifications.deliveries.v1]
  faust: true
  dlqWrites: [cityops.incidents.events.v1.dlq, cityops.dispatch.events.v1.dlq, cityops.sensors.alerts.v1.dlq]
gateway-api:
  reads: [cityops.incidents.events.v1, cityops.dispatch.events.v1, cityops.dispatch.unit-status.v1, cityops.sensors.alerts.v1]
  writes: []
{{- end -}}

{{- define "cityops.appKeysSecretName" -}}
{{- printf "%s-app-keys" (include "cityops.fullname" .) -}}
{{- end -}}

{{/* Components that call or serve gRPC, and whether they serve (gateway only calls). */}}
{{- define "cityops.tlsComponents" -}}
{{- range $svc, $cfg := .Values.services }}
{{- if $cfg.enabled }}
{{ $svc }}: {{ ne $svc "gateway" }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secret with tls.crt/tls.key/ca.crt of a service's api: (dict "root" $ "svc" "incidents"). */}}
{{- define "cityops.tlsSecretName" -}}
{{- $t := .root.Values.tls -}}
{{- $given := index ($t.existingSecrets | default dict) .svc | default "" -}}
{{- if $given -}}
{{- $given -}}
{{- else if $t.certManager.enabled -}}
{{- printf "%s-%s-api-tls" (include "cityops.fullname" .root) .svc -}}
{{- else -}}
{{- fail (printf "tls.enabled: không có chứng chỉ cho %s / no certificate for %s: set tls.existingSecrets.%s or tls.certManager.enabled=true" .svc .svc .svc) -}}
{{- end -}}
{{- end -}}

{{/* The gRPC clients among the apis: the gateway (every api) and dispatch (incidents, for EIDO). */}}
{{- define "cityops.grpcClient" -}}
{{- if has . (list "gateway" "dispatch") -}}true{{- end -}}
{{- end -}}

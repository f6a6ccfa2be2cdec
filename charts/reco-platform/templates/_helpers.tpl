{{/* Chart name, for app.kubernetes.io/name. */}}
{{- define "reco.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: the release name (so that "reco" gives reco-mlflow, reco-feast...,
next to the reco-milvus and reco-valkey that charts/reco-stack creates), or fullnameOverride.
Component suffixes are at most 16 characters, hence 47.
*/}}
{{- define "reco.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- end }}

{{- define "reco.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: include "reco.selectorLabels" (list $ "mlflow") */}}
{{- define "reco.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "reco.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels of one component's objects: include "reco.labels" (list $ "mlflow") */}}
{{- define "reco.labels" -}}
{{- $ := index . 0 -}}
{{ include "reco.selectorLabels" . }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: reco-platform
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ include "reco.chart" $ }}
{{- with $.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels shared by every pod of the release (NetworkPolicy selectors). */}}
{{- define "reco.releaseSelector" -}}
app.kubernetes.io/name: {{ include "reco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Image of one docker/Dockerfile target: include "reco.image" (list $ "serve") */}}
{{- define "reco.image" -}}
{{- $ := index . 0 -}}
{{- $target := index $.Values.image.targets (index . 1) -}}
{{- $repo := printf "%s/%s" $.Values.image.registry $target.repository -}}
{{- if $target.digest -}}
{{ $repo }}@{{ $target.digest }}
{{- else -}}
{{ $repo }}:{{ $.Values.image.tag | default $.Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- define "reco.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end }}

{{- define "reco.serviceAccountName" -}}
{{- $ := index . 0 -}}
{{- printf "%s-%s" (include "reco.fullname" $) (index . 1) -}}
{{- end }}

{{/* Endpoints, with the umbrella chart's service names as defaults. */}}
{{- define "reco.milvusUri" -}}
{{- .Values.milvus.uri | default (printf "http://%s-milvus:19530" .Release.Name) -}}
{{- end }}

{{- define "reco.onlineStoreUri" -}}
{{- .Values.feast.onlineStore.uri | default (printf "redis://%s-valkey:6379" .Release.Name) -}}
{{- end }}

{{- define "reco.mlflowUri" -}}
{{- if .Values.mlflow.enabled -}}
{{- printf "http://%s-mlflow:%d" (include "reco.fullname" .) (int .Values.mlflow.port) -}}
{{- else -}}
{{- .Values.mlflow.externalUri -}}
{{- end -}}
{{- end }}

{{/* KubeRay derives <name>-serve-svc and <name>-head-svc from it. */}}
{{- define "reco.rayServiceName" -}}
{{- include "reco.fullname" . -}}
{{- end }}

{{/* Pod-level security context: restricted Pod Security Standard. */}}
{{- define "reco.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: restricted Pod Security Standard. */}}
{{- define "reco.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Environment of every container: the settings ConfigMap, then the secret-backed settings (an
explicit env entry wins over envFrom), HOME on the writable /tmp.
*/}}
{{- define "reco.envFrom" -}}
- configMapRef:
    name: {{ include "reco.fullname" . }}-settings
{{- end }}

{{- define "reco.env" -}}
- name: HOME
  value: /tmp
{{- with .Values.milvus.auth.existingSecret }}
- name: RECO_MILVUS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.milvus.auth.tokenKey }}
{{- end }}
{{- with .Values.feast.onlineStore.existingSecret }}
- name: RECO_FEAST_ONLINE_STORE
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.feast.onlineStore.uriKey }}
{{- end }}
{{- end }}

{{/* Ray Serve's process flags (rayService.serveEnv) on the Ray head and workers. */}}
{{- define "reco.rayServeEnv" -}}
{{- range $name, $value := .Values.rayService.serveEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Writable paths of every pod: /tmp and the shared state volume. */}}
{{- define "reco.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
- name: state
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ .Values.persistence.existingClaim | default (printf "%s-state" (include "reco.fullname" .)) }}
{{- else }}
  emptyDir:
    sizeLimit: 2Gi
{{- end }}
{{- end }}

{{- define "reco.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: state
  mountPath: {{ .Values.persistence.mountPath }}
{{- end }}

{{/* Pod scheduling shared by every pod but the Ray workers. */}}
{{- define "reco.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Deep merge of .src into .dst in place (maps merge key by key, anything else replaces). Unlike
sprig's mergeOverwrite it keeps zero values such as min_replicas: 0.
*/}}
{{- define "reco.deepMerge" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- if and (kindIs "map" $value) (kindIs "map" (get $dst $key)) -}}
{{- include "reco.deepMerge" (dict "dst" (get $dst $key) "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The Serve config embedded in the RayService: files/serve_config.yaml (a copy of
serving/serve_config.yaml) with rayService.serveConfigOverrides merged into the deployments of
the same name. autoscaling_config and num_replicas exclude each other, so setting one drops the
other. tests/chart/test_chart.py applies the same rule in Python and compares.
*/}}
{{- define "reco.serveConfig" -}}
{{- $cfg := .Files.Get "files/serve_config.yaml" | fromYaml -}}
{{- if not $cfg.applications -}}
{{- fail "files/serve_config.yaml has no applications: run scripts/sync_chart_files.sh" -}}
{{- end -}}
{{- $overrides := .Values.rayService.serveConfigOverrides | default dict -}}
{{- $accessLog := .Values.rayService.accessLog | default false -}}
{{- $seen := dict -}}
{{- $apps := list -}}
{{- range $app := $cfg.applications -}}
{{- $deployments := list -}}
{{- range $d := $app.deployments | default list -}}
{{- $d = deepCopy $d -}}
{{- if hasKey $overrides $d.name -}}
{{- $o := deepCopy (get $overrides $d.name) -}}
{{- if hasKey $o "autoscaling_config" -}}{{- $_ := unset $d "num_replicas" -}}{{- end -}}
{{- if hasKey $o "num_replicas" -}}{{- $_ := unset $d "autoscaling_config" -}}{{- end -}}
{{- include "reco.deepMerge" (dict "dst" $d "src" $o) -}}
{{- $_ := set $seen $d.name true -}}
{{- end -}}
{{- $deployments = append $deployments $d -}}
{{- end -}}
{{- $_ := set $app "deployments" $deployments -}}
{{- $logging := deepCopy ($app.logging_config | default dict) -}}
{{- $_ := set $logging "enable_access_log" $accessLog -}}
{{- $_ := set $app "logging_config" $logging -}}
{{- $apps = append $apps $app -}}
{{- end -}}
{{- range $name, $_ := $overrides -}}
{{- if not (hasKey $seen $name) -}}
{{- fail (printf "rayService.serveConfigOverrides.%s: no deployment of that name in files/serve_config.yaml" $name) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cfg "applications" $apps -}}
{{- toYaml $cfg -}}
{{- end }}

{{/* Secret with the Ray auth token (key auth_token, the key KubeRay reads). */}}
{{- define "reco.rayAuthSecretName" -}}
{{- .Values.rayService.auth.existingSecret | default (printf "%s-ray-auth" (include "reco.fullname" .)) -}}
{{- end }}

{{/* Ray token authentication env of every Ray container (head, workers, autoscaler). */}}
{{- define "reco.rayAuthEnv" -}}
{{- if .Values.rayService.auth.enabled }}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "reco.rayAuthSecretName" . }}
      key: auth_token
{{- end }}
{{- end }}

{{/*
The generated Ray auth token, base64: the one already in the cluster (lookup, so an upgrade
keeps it), else a new random one. Memoized in .Values so that the Secret and the checksum
annotation of the Ray pods see the same token within one render.
*/}}
{{- define "reco.rayAuthToken" -}}
{{- $auth := .Values.rayService.auth -}}
{{- if not (hasKey $auth "_token") -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "reco.rayAuthSecretName" .) -}}
{{- $token := get ($existing.data | default dict) "auth_token" | default (randAlphaNum 48 | b64enc) -}}
{{- $_ := set $auth "_token" $token -}}
{{- end -}}
{{- get $auth "_token" -}}
{{- end }}

{{/* Secrets of the privacy settings: the user-id key (RECO_ID_KEY) and the admin token. */}}
{{- define "reco.idKeySecretName" -}}
{{- .Values.privacy.idKey.existingSecret | default (printf "%s-id-key" (include "reco.fullname" .)) -}}
{{- end }}

{{- define "reco.adminTokenSecretName" -}}
{{- .Values.privacy.adminToken.existingSecret | default (printf "%s-admin-token" (include "reco.fullname" .)) -}}
{{- end }}

{{/*
A generated secret value, base64: the one already in the cluster (lookup, so an upgrade keeps
it; a new user-id key would re-key every user), else a new random one, memoized per render
(in the values dict, per key). Arguments: (list . <values dict> <Secret name> <key>).
*/}}
{{- define "reco.generatedSecret" -}}
{{- $root := index . 0 -}}
{{- $holder := index . 1 -}}
{{- $name := index . 2 -}}
{{- $key := index . 3 -}}
{{- $memo := printf "_%s" $key -}}
{{- if not (hasKey $holder $memo) -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $name -}}
{{- $value := get ($existing.data | default dict) $key | default (randAlphaNum 64 | b64enc) -}}
{{- $_ := set $holder $memo $value -}}
{{- end -}}
{{- get $holder $memo -}}
{{- end }}

{{/* The serving containers' privacy env: the user-id key and the admin token, from Secrets. */}}
{{- define "reco.privacyEnv" -}}
- name: RECO_ID_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "reco.idKeySecretName" . }}
      key: {{ .Values.privacy.idKey.key }}
- name: RECO_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "reco.adminTokenSecretName" . }}
      key: {{ .Values.privacy.adminToken.key }}
{{- end }}

{{/*
MLflow basic auth (mlflow.auth): the Secret with the credentials (keys username, password and,
for the chart's server, flask_secret_key). Clients get them when the chart's MLflow runs with
auth, or when an existingSecret names the credentials of an MLflow run elsewhere.
*/}}
{{- define "reco.mlflowAuthSecretName" -}}
{{- .Values.mlflow.auth.existingSecret | default (printf "%s-mlflow-auth" (include "reco.fullname" .)) -}}
{{- end }}

{{- define "reco.mlflowAuthOn" -}}
{{- $a := .Values.mlflow.auth -}}
{{- if and $a.enabled (or .Values.mlflow.enabled $a.existingSecret) }}true{{ end -}}
{{- end }}

{{/* Hash of a generated MLflow auth Secret (pod annotation: a changed password rolls the pods). */}}
{{- define "reco.mlflowAuthChecksum" -}}
{{- $a := .Values.mlflow.auth -}}
{{- if and (include "reco.mlflowAuthOn" .) (not $a.existingSecret) -}}
{{- $name := include "reco.mlflowAuthSecretName" . -}}
{{- list (include "reco.mlflowAuthPassword" .) (include "reco.generatedSecret" (list . $a $name "flask_secret_key")) | join "," | sha256sum -}}
{{- end -}}
{{- end }}

{{/* The generated password, base64: the one in the cluster, else random (reco.generatedSecret). */}}
{{- define "reco.mlflowAuthPassword" -}}
{{- include "reco.generatedSecret" (list . .Values.mlflow.auth (include "reco.mlflowAuthSecretName" .) "password") -}}
{{- end }}

{{/*
The env of every MLflow client container (Ray, the drift check): MLflow's client reads
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD itself (HTTP basic auth on every call).
*/}}
{{- define "reco.mlflowAuthEnv" -}}
{{- if include "reco.mlflowAuthOn" . }}
- name: MLFLOW_TRACKING_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "reco.mlflowAuthSecretName" . }}
      key: username
- name: MLFLOW_TRACKING_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "reco.mlflowAuthSecretName" . }}
      key: password
{{- end }}
{{- end }}

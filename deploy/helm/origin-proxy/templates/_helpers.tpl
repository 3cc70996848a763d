{{/* The port of a listen value ("11935", "0.0.0.0:11935", "[::]:11935"). */}}
{{- define "origin-proxy.port" -}}
{{- regexReplaceAll "^.*:" (toString .) "" -}}
{{- end -}}
{{- define "origin-proxy.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

// The Grafana dashboards of the mixin (grafanaDashboards: file name ->
// dashboard). For now the repository's dashboard as it is.
{
  grafanaDashboards+:: {
    'scp-image-sharing.json': import 'scp-image-sharing.json',
  },
}

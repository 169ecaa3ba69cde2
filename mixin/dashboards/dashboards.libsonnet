// Every dashboard of the mixin, keyed by its file name under dashboards/,
// and the linter exclusions that hold for all of them.
(import 'synguard.libsonnet') +
(import 'lint.libsonnet')

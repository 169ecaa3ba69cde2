// Every dashboard of the mixin, keyed by its file name under dashboards/.
(import 'synguard.libsonnet')

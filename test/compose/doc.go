// Package compose checks docker-compose.yml against the configs it mounts:
// every file a mounted config names (token files, state files, rule files,
// provisioning paths, the files its command's flags name) must be inside a
// mount of that service, or the service fails to start on a real host.
// docker-compose config checks the compose file's own syntax only.
package compose

// Package gen holds the code generated from openapi.yaml by oapi-codegen: the
// Echo strict-server interface, the models, the embedded spec and a client.
// Nothing here is edited by hand; run `make generate`.
package gen

//go:generate go tool oapi-codegen -config config.yaml ../openapi.yaml

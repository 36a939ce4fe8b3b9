// Package deploy holds tagifai's Kubernetes manifests and the test that
// decodes them strictly with the Kubernetes API types and checks them against
// the server's contract (../openapi.yaml) and image (../Dockerfile). It is a
// module of its own so that k8s.io/api stays out of the server's build.
package deploy

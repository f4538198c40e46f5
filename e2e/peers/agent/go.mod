// Builds the real netchecker agent (kubespray's, last commit f7c7c00 of 2018-01-02; it has no go.mod,
// so this module names its two dependencies) for make e2e.
module netchecker-e2e/agent

go 1.26.0

require (
	github.com/Mirantis/k8s-netchecker-agent v0.0.0-20180102105046-f7c7c005c6e5
	github.com/golang/glog v1.2.5
	github.com/tcnksm/go-httpstat v0.2.0
)

tool github.com/Mirantis/k8s-netchecker-agent

// Package acl is orch's authorization model, Nomad's: policies written in
// Nomad's ACL policy language (namespace capabilities, node, agent,
// operator, quota, plugin and host_volume rules, variables paths), compiled
// into an ACL that answers "may this caller do that". It is pure: tokens,
// policies and roles come from the caller (see Resolver).
package acl

// Coarse policy dispositions: `policy = "..."` in a rule.
const (
	PolicyDeny  = "deny"
	PolicyRead  = "read"
	PolicyList  = "list"
	PolicyWrite = "write"
	PolicyScale = "scale"
)

// Namespace capabilities.
const (
	NamespaceCapabilityDeny                 = "deny"
	NamespaceCapabilityListJobs             = "list-jobs"
	NamespaceCapabilityParseJob             = "parse-job"
	NamespaceCapabilityReadJob              = "read-job"
	NamespaceCapabilitySubmitJob            = "submit-job"
	NamespaceCapabilityDispatchJob          = "dispatch-job"
	NamespaceCapabilityReadLogs             = "read-logs"
	NamespaceCapabilityReadFS               = "read-fs"
	NamespaceCapabilityAllocExec            = "alloc-exec"
	NamespaceCapabilityAllocNodeExec        = "alloc-node-exec"
	NamespaceCapabilityAllocLifecycle       = "alloc-lifecycle"
	NamespaceCapabilitySentinelOverride     = "sentinel-override"
	NamespaceCapabilityCSIRegisterPlugin    = "csi-register-plugin"
	NamespaceCapabilityCSIWriteVolume       = "csi-write-volume"
	NamespaceCapabilityCSIReadVolume        = "csi-read-volume"
	NamespaceCapabilityCSIListVolume        = "csi-list-volume"
	NamespaceCapabilityCSIMountVolume       = "csi-mount-volume"
	NamespaceCapabilityHostVolumeCreate     = "host-volume-create"
	NamespaceCapabilityHostVolumeRegister   = "host-volume-register"
	NamespaceCapabilityHostVolumeRead       = "host-volume-read"
	NamespaceCapabilityHostVolumeWrite      = "host-volume-write"
	NamespaceCapabilityHostVolumeDelete     = "host-volume-delete"
	NamespaceCapabilityListScalingPolicies  = "list-scaling-policies"
	NamespaceCapabilityReadScalingPolicy    = "read-scaling-policy"
	NamespaceCapabilityReadJobScaling       = "read-job-scaling"
	NamespaceCapabilityScaleJob             = "scale-job"
	NamespaceCapabilitySubmitRecommendation = "submit-recommendation"
)

// Variables capabilities, granted per path inside a namespace rule.
const (
	VariablesCapabilityList    = "list"
	VariablesCapabilityRead    = "read"
	VariablesCapabilityWrite   = "write"
	VariablesCapabilityDestroy = "destroy"
	VariablesCapabilityDeny    = "deny"
)

// Host volume capabilities.
const (
	HostVolumeCapabilityDeny           = "deny"
	HostVolumeCapabilityMountReadOnly  = "mount-readonly"
	HostVolumeCapabilityMountReadWrite = "mount-readwrite"
)

// namespaceCapabilities is every valid namespace capability.
var namespaceCapabilities = set(
	NamespaceCapabilityDeny, NamespaceCapabilityListJobs, NamespaceCapabilityParseJob,
	NamespaceCapabilityReadJob, NamespaceCapabilitySubmitJob, NamespaceCapabilityDispatchJob,
	NamespaceCapabilityReadLogs, NamespaceCapabilityReadFS, NamespaceCapabilityAllocExec,
	NamespaceCapabilityAllocNodeExec, NamespaceCapabilityAllocLifecycle,
	NamespaceCapabilitySentinelOverride, NamespaceCapabilityCSIRegisterPlugin,
	NamespaceCapabilityCSIWriteVolume, NamespaceCapabilityCSIReadVolume,
	NamespaceCapabilityCSIListVolume, NamespaceCapabilityCSIMountVolume,
	NamespaceCapabilityHostVolumeCreate, NamespaceCapabilityHostVolumeRegister,
	NamespaceCapabilityHostVolumeRead, NamespaceCapabilityHostVolumeWrite,
	NamespaceCapabilityHostVolumeDelete, NamespaceCapabilityListScalingPolicies,
	NamespaceCapabilityReadScalingPolicy, NamespaceCapabilityReadJobScaling,
	NamespaceCapabilityScaleJob, NamespaceCapabilitySubmitRecommendation,
)

// NamespaceCapabilities lists every namespace capability (for tests and docs).
func NamespaceCapabilities() []string { return sortedKeys(namespaceCapabilities) }

var variablesCapabilities = set(VariablesCapabilityList, VariablesCapabilityRead,
	VariablesCapabilityWrite, VariablesCapabilityDestroy, VariablesCapabilityDeny)

var hostVolumeCapabilities = set(HostVolumeCapabilityDeny, HostVolumeCapabilityMountReadOnly,
	HostVolumeCapabilityMountReadWrite)

// expandNamespacePolicy returns the capabilities a namespace rule's coarse
// policy grants, as Nomad documents them.
func expandNamespacePolicy(policy string) []string {
	read := []string{
		NamespaceCapabilityListJobs, NamespaceCapabilityParseJob, NamespaceCapabilityReadJob,
		NamespaceCapabilityCSIListVolume, NamespaceCapabilityCSIReadVolume,
		NamespaceCapabilityReadJobScaling, NamespaceCapabilityListScalingPolicies,
		NamespaceCapabilityReadScalingPolicy, NamespaceCapabilityHostVolumeRead,
	}
	switch policy {
	case PolicyDeny:
		return []string{NamespaceCapabilityDeny}
	case PolicyRead:
		return read
	case PolicyWrite:
		return append(read,
			NamespaceCapabilityScaleJob, NamespaceCapabilitySubmitJob, NamespaceCapabilityDispatchJob,
			NamespaceCapabilityReadLogs, NamespaceCapabilityReadFS, NamespaceCapabilityAllocExec,
			NamespaceCapabilityAllocLifecycle, NamespaceCapabilityCSIMountVolume,
			NamespaceCapabilityCSIWriteVolume, NamespaceCapabilitySubmitRecommendation,
			NamespaceCapabilityHostVolumeCreate, NamespaceCapabilityHostVolumeWrite)
	case PolicyScale:
		return []string{
			NamespaceCapabilityListScalingPolicies, NamespaceCapabilityReadScalingPolicy,
			NamespaceCapabilityReadJobScaling, NamespaceCapabilityScaleJob,
		}
	}
	return nil
}

// expandVariablesPolicy returns the variables capabilities a namespace
// rule's coarse policy grants on every path of the namespace.
func expandVariablesPolicy(policy string) []string {
	switch policy {
	case PolicyRead:
		return []string{VariablesCapabilityList, VariablesCapabilityRead}
	case PolicyWrite:
		return []string{VariablesCapabilityList, VariablesCapabilityRead,
			VariablesCapabilityWrite, VariablesCapabilityDestroy}
	}
	return nil
}

// expandHostVolumePolicy returns the capabilities a host_volume rule's
// coarse policy grants.
func expandHostVolumePolicy(policy string) []string {
	switch policy {
	case PolicyDeny:
		return []string{HostVolumeCapabilityDeny}
	case PolicyRead:
		return []string{HostVolumeCapabilityMountReadOnly}
	case PolicyWrite:
		return []string{HostVolumeCapabilityMountReadOnly, HostVolumeCapabilityMountReadWrite}
	}
	return nil
}

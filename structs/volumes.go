package structs

// Volume types of a group's volume block.
const (
	VolumeTypeHost = "host"
	VolumeTypeCSI  = "csi"
)

// ClientHostVolumeConfig is a host volume a client offers (its agent
// config's `client { host_volume "name" { path read_only } }`), as Nomad's
// node JSON carries it in HostVolumes.
type ClientHostVolumeConfig struct {
	Name     string `json:"Name"`
	Path     string `json:"Path"`
	ReadOnly bool   `json:"ReadOnly"`
}

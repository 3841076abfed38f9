package structs

// JobUIConfig is the job's `ui {}` block: a description and links the web
// UI shows on the job's page. Stored and returned with the job.
type JobUIConfig struct {
	Description string       `json:"Description"`
	Links       []*JobUILink `json:"Links"`
}

// JobUILink is one link of a job's UI block.
type JobUILink struct {
	Label string `json:"Label"`
	URL   string `json:"URL"`
}

// JobVersionTag names a job version (`nomad job tag`). It is set through
// its own endpoint, never by a submitted job.
type JobVersionTag struct {
	Name        string `json:"Name"`
	Description string `json:"Description"`
	TaggedTime  int64  `json:"TaggedTime"`
}

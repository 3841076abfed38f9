package java

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/drivers"
)

func configSpec() hcldec.Spec {
	return hcldec.ObjectSpec{
		"jar_path":    &hcldec.AttrSpec{Name: "jar_path", Type: cty.String},
		"class":       &hcldec.AttrSpec{Name: "class", Type: cty.String},
		"class_path":  &hcldec.AttrSpec{Name: "class_path", Type: cty.String},
		"jvm_options": &hcldec.AttrSpec{Name: "jvm_options", Type: cty.List(cty.String)},
		"args":        &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
	}
}

// TaskConfig is the decoded `config {}` block.
type TaskConfig struct {
	JarPath    string
	Class      string
	ClassPath  string
	JVMOptions []string
	Args       []string
}

// ParseConfig decodes and checks a config map as it arrives over the API.
func ParseConfig(cfg map[string]any) (*TaskConfig, error) {
	var tc TaskConfig
	var err error
	for k, v := range cfg {
		switch k {
		case "jar_path":
			tc.JarPath, err = drivers.String(v)
		case "class":
			tc.Class, err = drivers.String(v)
		case "class_path":
			tc.ClassPath, err = drivers.String(v)
		case "jvm_options":
			tc.JVMOptions, err = drivers.StringList(v)
		case "args":
			tc.Args, err = drivers.StringList(v)
		default:
			return nil, fmt.Errorf("java: unknown config key %q", k)
		}
		if err != nil {
			return nil, fmt.Errorf("java: config.%s: %w", k, err)
		}
	}
	switch {
	case tc.JarPath == "" && tc.Class == "":
		return nil, errors.New("java: config needs jar_path or class")
	case tc.JarPath != "" && tc.Class != "":
		return nil, errors.New("java: config.jar_path and config.class are exclusive")
	}
	return &tc, nil
}

// JavaArgs is the JVM's command line after the java binary.
func (tc *TaskConfig) JavaArgs() []string {
	args := append([]string{}, tc.JVMOptions...)
	if tc.JarPath != "" {
		args = append(args, "-jar", tc.JarPath)
	} else {
		if tc.ClassPath != "" {
			args = append(args, "-cp", tc.ClassPath)
		}
		args = append(args, tc.Class)
	}
	return append(args, tc.Args...)
}

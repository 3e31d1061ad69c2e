package apigw

import "testing"

// stackOf reads CloudFormation's own tags, and only those.
func TestStackOf(t *testing.T) {
	const id = "arn:aws:cloudformation:eu-west-1:111122223333:stack/edge-api/0b1c2d3e-aaaa"
	for _, c := range []struct {
		name string
		tags map[string]string
		want *Stack
	}{
		{"all three", map[string]string{TagStackName: "edge-api", TagStackID: id, TagLogicalID: "ApiDomain", "team": "edge"}, &Stack{Name: "edge-api", ID: id, LogicalID: "ApiDomain"}},
		{"the stack ID alone names the stack", map[string]string{TagStackID: id}, &Stack{Name: "edge-api", ID: id}},
		{"a logical ID alone", map[string]string{TagLogicalID: "ApiDomain"}, &Stack{LogicalID: "ApiDomain"}},
		{"other tags", map[string]string{"team": "edge", "cloudformation:stack-name": "not ours"}, nil},
		{"none", nil, nil},
	} {
		got := stackOf(c.tags)
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

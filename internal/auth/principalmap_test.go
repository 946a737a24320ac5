package auth

import "testing"

// TestPrincipalMappingRules runs the rules and names of Kafka's
// documentation and SslPrincipalMapperTest.
func TestPrincipalMappingRules(t *testing.T) {
	for _, r := range []string{
		"DEFAULT",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
		"RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
		"RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
		"RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
		"",
		",   , , ,      , , ,   ",
	} {
		if _, err := ParsePrincipalMappingRules(r); err != nil {
			t.Errorf("valid rules %q: %v", r, err)
		}
	}
	for _, r := range []string{
		"default",
		"DEFAUL",
		"DEFAULT/L",
		"DEFAULT/U",
		"RULE:CN=(.*?),OU=ServiceUsers.*/$1",
		"rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
		"RULE:^CN=(?=x)$/$1/", // a look-ahead: not RE2
	} {
		if _, err := ParsePrincipalMappingRules(r); err == nil {
			t.Errorf("invalid rules %q accepted", r)
		}
	}

	// Kafka's documented example (ssl.principal.mapping.rules).
	docs, err := ParsePrincipalMappingRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT")
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := ParsePrincipalMappingRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT")
	if err != nil {
		t.Fatal(err)
	}
	comma, err := ParsePrincipalMappingRules(`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	escapes, err := ParsePrincipalMappingRules(`RULE:^CN=(\w+)$/\$1=$1\/x/`)
	if err != nil {
		t.Fatal(err)
	}
	none, err := ParsePrincipalMappingRules("RULE:^CN=(.*)$/$1/")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m      *PrincipalMapper
		dn     string
		want   string
		refuse bool
	}{
		{docs, "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "serviceuser", false},
		{docs, "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "adminuser@admin", false},
		{mapper, "CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke", false},
		{mapper, "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme", false},
		{mapper, "cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME", false},
		{mapper, "cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE", false},
		{mapper, "OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US", false},
		{comma, `CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`, `Tkac\, Adam`, false},
		{escapes, "CN=bob", "$1=bob/x", false},
		{none, "CN=bob,O=x", "bob,O=x", false},
		{none, "O=x,CN=bob", "", true},
	} {
		got, ok := c.m.Name(c.dn)
		if ok == c.refuse || got != c.want {
			t.Errorf("%s with %v: %q %v, want %q", c.dn, c.m, got, ok, c.want)
		}
	}
}

// TestPrincipalMappingRulesSplitting: Kafka's testRulesSplitting cases —
// spaces around rules, empty rules ignored, escaped slashes and commas
// inside patterns.
func TestPrincipalMappingRulesSplitting(t *testing.T) {
	for _, c := range []struct {
		rules string
		want  string
	}{
		{"", "DEFAULT"},
		{"DEFAULT", "DEFAULT"},
		{"RULE://", "RULE://"},
		{"RULE:/.*/L", "RULE:/.*/L"},
		{"  RULE:// ,  DEFAULT  ", "RULE://, DEFAULT"},
		{"  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ", "RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1/, DEFAULT"},
		{",,RULE://,,,DEFAULT,,", "RULE://, DEFAULT"},
		{`RULE:\/\\\(\)\n\t/\/\//`, `RULE:\/\\\(\)\n\t/\/\//`},
		{`RULE:\**\/+/*/L,RULE:\/*\**/**/`, `RULE:\**\/+/*/L, RULE:\/*\**/**/`},
		{"RULE:,RULE:,/,RULE:,\\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT",
			"RULE:,RULE:,/,RULE:,\\//U, RULE:,/RULE:,/, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT/, DEFAULT"},
	} {
		pm, err := ParsePrincipalMappingRules(c.rules)
		if err != nil {
			t.Errorf("%q: %v", c.rules, err)
			continue
		}
		if got := pm.String(); got != c.want {
			t.Errorf("%q split as %q, want %q", c.rules, got, c.want)
		}
	}
	pm, err := ParsePrincipalMappingRules(`RULE:^CN=a\/b,(.*)$/$1\/x/`)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := pm.Name("CN=a/b,O=z"); !ok || got != "O=z/x" {
		t.Fatalf("escaped slashes: %q %v", got, ok)
	}
}

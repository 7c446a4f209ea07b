// composecheck loads a Compose file with compose-go, the loader docker compose itself uses,
// which validates it against the compose-spec JSON schema (as `docker compose config` does)
// and prints the normalized project as JSON. Exit 1 with the loader's message when invalid.
//
// Usage: go run . path/to/docker-compose.yml
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions([]string{os.Args[1]})
	if err == nil {
		var project interface{}
		project, err = options.LoadProject(context.Background())
		if err == nil {
			out, _ := json.Marshal(project)
			fmt.Println(string(out))
			return
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

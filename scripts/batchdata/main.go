// Command batchdata writes a batch input of N rows (id,text) by repeating
// the projects of Made With ML CSV files, each copy under an id of its own,
// for measuring `tagifai batch` and batch jobs.
//
//	go run ./scripts/batchdata -n 100000 ../shared/data/dataset.csv ../shared/data/holdout.csv > big.csv
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/tagifai/tagifai/model"
)

func main() {
	n := flag.Int("n", 100000, "rows to write")
	asJSON := flag.Bool("json", false, `write a POST /batch-jobs JSON body, {"items":[{"id":…,"text":…}…]}, instead of CSV`)
	flag.Parse()
	var texts []string
	for _, path := range flag.Args() {
		examples, err := model.ReadCSV(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "batchdata:", err)
			os.Exit(1)
		}
		for _, e := range examples {
			texts = append(texts, e.Text)
		}
	}
	if len(texts) == 0 {
		fmt.Fprintln(os.Stderr, "usage: batchdata [-n N] CSV...")
		os.Exit(2)
	}
	if *asJSON {
		items := make([]map[string]string, *n)
		for i := range items {
			items[i] = map[string]string{"id": fmt.Sprintf("p%06d", i), "text": texts[i%len(texts)]}
		}
		if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"items": items}); err != nil {
			fmt.Fprintln(os.Stderr, "batchdata:", err)
			os.Exit(1)
		}
		return
	}
	w := csv.NewWriter(os.Stdout)
	_ = w.Write([]string{"id", "text"})
	for i := 0; i < *n; i++ {
		_ = w.Write([]string{fmt.Sprintf("p%06d", i), texts[i%len(texts)]})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		fmt.Fprintln(os.Stderr, "batchdata:", err)
		os.Exit(1)
	}
}

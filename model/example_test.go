package model_test

import (
	"fmt"

	"github.com/tagifai/tagifai/model"
)

func ExampleClean() {
	text := "Comparison between YOLO and RCNN on real world videos! See https://github.com/x/y."
	fmt.Println(model.Clean(text, model.CleanOptions{Lower: true, Stopwords: true}))
	fmt.Println(model.Clean(text, model.CleanOptions{Lower: true, Stopwords: true, Stem: true}))
	// Output:
	// comparison yolo rcnn real world videos see
	// comparison yolo rcnn real world video see
}

func ExampleStem() {
	for _, w := range []string{"transformers", "convolutional", "networks", "dying"} {
		fmt.Print(model.Stem(w, true), " ")
	}
	fmt.Println()
	// Output:
	// transform convolut network die
}

func ExampleQuantile() {
	// The lesson's threshold: the 25th percentile of the winning
	// probabilities on the validation split.
	winning := []float64{0.9, 0.4, 0.8, 0.6, 0.7}
	fmt.Printf("%.2f\n", model.Quantile(winning, 0.25))
	// Output:
	// 0.60
}

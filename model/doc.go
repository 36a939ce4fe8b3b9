// Package model is the TagIfAI text classifier: it cleans the title and
// description of a machine-learning project, turns them into TF-IDF
// features and tags the project as computer-vision, mlops,
// natural-language-processing or other with a linear model trained by
// stochastic gradient descent.
//
// The pipeline reproduces the Made With ML lesson's scikit-learn pipeline
// (Clean, char_wb TF-IDF, SGD on log loss after random over-sampling, a
// fallback threshold on the winning probability) and extends it with word
// n-grams, sublinear tf and a multinomial (softmax) loss; every extension is
// an Args field, so the lesson's pipeline is one setting of Args.
//
// Training is deterministic: the same examples, Args and seed give the same
// Classifier and, with the same creation time, byte-identical artifact
// files. One Clean function serves training and prediction, so the text a
// Classifier sees at prediction time is cleaned exactly as its training
// text was.
//
// Beside the model, an Artifact carries what it scored on held-out data
// (Performance, with a confusion matrix) and the reference distributions
// of monitoring (Baseline). Decode checks every field, so an artifact it
// accepts predicts in time linear in the text, whoever crafted it.
// Explain decomposes a class score exactly into the contributions of the
// text's features.
//
// Prediction is the hot path of the server: Predict cleans, vectorizes and
// scores a text with buffers reused through a pool and allocates only the
// probabilities it returns (PredictBatch, one slice of predictions and one
// of probabilities for the whole batch). Each Prediction also says what the
// model saw of its text, counted in the same loop at no measurable cost:
// the words of the cleaned text, the n-grams looked up and how many were in
// the vocabulary (OOVRate), and the number of features present (Empty).
// For explanations, AppendFeatures gives a text's vector as (index, TF-IDF
// value) pairs, the very values the scores are summed from, FeatureKind the
// kind of a feature and FeatureTerms the n-grams of a text's features.
//
// The package imports no web code; the server and the command line are its
// clients.
package model

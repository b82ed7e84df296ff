"""The neural mixing-style controller: input features, the model, its settings layout, its weights."""

-- The upload sweep asks, per file, whether a task still refers to it.
CREATE INDEX tasks_input_image ON tasks (input_image) WHERE input_image IS NOT NULL;

/* load.h — loads a model folder (Hugging Face layout) from disk for the native CLI. */
#ifndef PLDR_CLI_LOAD_H
#define PLDR_CLI_LOAD_H

#include "pldr.h"

/* Reads DIR/config.json and the safetensors shards into a new model. NULL on failure with the
 * reason in err. */
pldr_model *load_model_dir(const char *dir, const pldr_model_params *params, char *err, size_t err_cap);

/* Sets every number/bool/string member of a config.json object as a hyperparameter. */
int apply_config(pldr_model *m, const char *config_text, size_t len, char *err, size_t err_cap);

#endif

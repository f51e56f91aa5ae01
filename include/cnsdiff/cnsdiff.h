/** @file
 * libcnsdiff — CNSDiff: causal negative sampling via diffusion.
 *
 * Umbrella header. Each component has its own header:
 *   common.h   status codes, cns_error, allocator, version
 *   dataset.h  interaction data and mini-batches
 *   idmap.h    raw user and item ids: id maps, id-aware loaders, raw-id recommend
 *   model.h    the embedding model (MF / LightGCN), checkpoints
 *   sampler.h  the negative sampler: CNSDiff diffusion, uniform, DNS
 *   loss.h     the causal-regularised loss
 *   train.h    one-call training epochs
 *   eval.h     top-K evaluation with plain and popularity-debiased metrics
 *   world.h    a synthetic confounded world for demos and tests
 *   rows.h     gathering rows from a host's own tables (float or double)
 */
#ifndef CNSDIFF_CNSDIFF_H
#define CNSDIFF_CNSDIFF_H

#include "common.h"
#include "dataset.h"
#include "eval.h"
#include "idmap.h"
#include "loss.h"
#include "model.h"
#include "preset.h"
#include "rows.h"
#include "sampler.h"
#include "select.h"
#include "split.h"
#include "train.h"
#include "world.h"

#endif

# rbmi_timing.R -- wall-clock time of R rbmi's MAR conditional-mean + jackknife analysis, end to
# end (draws + impute + analyse + pool), for comparison with xerotrial's implementation.
#
# How to run (from the repository root):
#     Rscript validation/rbmi_timing.R [repeats]     # default 3 repeats
#
# Same setup as validation/make_rbmi_references.R (rbmi CondMean_Inference vignette) on
# ../shared/reference/rbmi/antidepressant_data.csv, read in place. Data preparation (reading,
# expand_locf, ICE derivation) is outside the timed region; ncores = 1. Prints each elapsed time
# (system.time()[["elapsed"]]) and the median, in seconds.

suppressPackageStartupMessages(library(rbmi))

args <- commandArgs(trailingOnly = TRUE)
repeats <- if (length(args) >= 1) as.integer(args[[1]]) else 3L

data_file <- file.path("..", "shared", "reference", "rbmi", "antidepressant_data.csv")
stopifnot(file.exists(data_file))

raw <- read.csv(
  data_file,
  colClasses = c(PATIENT = "character", VISIT = "character", THERAPY = "character",
                 GENDER = "character", POOLINV = "character")
)
raw$PATIENT <- factor(raw$PATIENT)
raw$VISIT <- factor(raw$VISIT, levels = c("4", "5", "6", "7"))
raw$THERAPY <- factor(raw$THERAPY)

dat <- expand_locf(
  raw,
  PATIENT = levels(raw$PATIENT),
  VISIT = levels(raw$VISIT),
  vars = c("BASVAL", "THERAPY"),
  group = c("PATIENT"),
  order = c("PATIENT", "VISIT")
)
miss <- dat[is.na(dat$CHANGE), c("PATIENT", "VISIT")]
miss <- miss[order(miss$PATIENT, miss$VISIT), ]
dat_ice <- miss[!duplicated(miss$PATIENT), ]
dat_ice <- dat_ice[dat_ice$PATIENT != "3618", ]
dat_ice$strategy <- "MAR"

vars <- set_vars(
  outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
  covariates = c("BASVAL*VISIT", "THERAPY*VISIT"), strategy = "strategy"
)
vars_an <- set_vars(group = "THERAPY", visit = "VISIT", outcome = "CHANGE", covariates = "BASVAL")
references <- c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO")

run_once <- function() {
  dr <- draws(data = dat, data_ice = dat_ice, vars = vars,
              method = method_condmean(type = "jackknife"), quiet = TRUE)
  im <- impute(dr, references = references)
  an <- analyse(im, ancova, vars = vars_an)
  pool(an)
}

times <- numeric(repeats)
for (i in seq_len(repeats)) {
  times[i] <- system.time(res <- run_once())[["elapsed"]]
  cat(sprintf("run %d: %.2f s\n", i, times[i]))
}
trt7 <- as.data.frame(res)
trt7 <- trt7[trt7$parameter == "trt_7", ]
cat(sprintf("trt_7 est %.6f se %.6f (check)\n", trt7$est, trt7$se))
cat(sprintf("median of %d: %.2f s  (rbmi %s, mmrm %s, %s)\n", repeats, median(times),
            packageVersion("rbmi"), packageVersion("mmrm"), R.version.string))

# The R side of benchmarks/rbmi.py: R rbmi on its own example, timed inside R (start-up and
# package loading excluded). Rscript rbmi_peers.R DATA.csv ICE.csv REPEATS BOOT prints one
# JSON line: seconds per analysis (draws + impute + analyse + pool) of each case.
suppressMessages({library(rbmi); library(dplyr)})
args <- commandArgs(trailingOnly = TRUE)
repeats <- as.integer(args[3]); boot <- as.integer(args[4])
dat <- read.csv(args[1], colClasses = c(PATIENT = "character", VISIT = "character"))
dat$PATIENT <- factor(dat$PATIENT); dat$VISIT <- factor(dat$VISIT, levels = c("4","5","6","7"))
dat$THERAPY <- factor(dat$THERAPY); dat$GENDER <- factor(dat$GENDER)
dat <- expand_locf(dat, PATIENT = levels(dat$PATIENT), VISIT = levels(dat$VISIT),
                   vars = c("BASVAL", "THERAPY"), group = c("PATIENT"), order = c("PATIENT", "VISIT"))
ice <- read.csv(args[2], colClasses = "character")
ice <- data.frame(PATIENT = ice$subject, VISIT = ice$visit, strategy = ice$strategy)
vars <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                 covariates = c("BASVAL*VISIT", "THERAPY*VISIT"))
analysis <- function(method) {
  d <- draws(data = dat, data_ice = ice, vars = vars, method = method, quiet = TRUE)
  i <- impute(d, references = c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO"))
  a <- analyse(i, ancova, vars = set_vars(outcome = "CHANGE", visit = "VISIT",
                                           subjid = "PATIENT", group = "THERAPY",
                                           covariates = "BASVAL"))
  pool(a)
}
timed <- function(method, k) {
  invisible(analysis(method))  # warm-up
  median(vapply(seq_len(k), function(i) system.time(analysis(method),
                                                    gcFirst = FALSE)[["elapsed"]], 0))
}
set.seed(1)
jack <- timed(method_condmean(type = "jackknife"), repeats)
bmlmi <- if (boot > 0) timed(method_bmlmi(B = boot, D = 2), 1) else NA
cat(sprintf("{\"condmean_jackknife\": %.6f, \"bmlmi\": %s, \"rbmi\": \"%s\"}\n", jack,
            ifelse(is.na(bmlmi), "null", sprintf("%.6f", bmlmi)), packageVersion("rbmi")))

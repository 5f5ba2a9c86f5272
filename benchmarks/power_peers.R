# The R side of benchmarks/power.py: fits per second of lme4::lmer and glmmTMB on the
# simulated replicates. Rscript power_peers.R REPS.csv K_LMER K_TMB prints one JSON line.
suppressMessages({library(lme4); library(glmmTMB)})
args <- commandArgs(trailingOnly = TRUE)  # CSV of the replicates, k_lmer, k_tmb
d <- read.csv(args[1], stringsAsFactors = TRUE)
d$id <- factor(d$id); d$visit <- factor(d$visit, levels = paste0("v", 1:4))
d$arm <- relevel(factor(d$arm), "control")
reps <- split(d, d$rep)
k1 <- min(as.integer(args[2]), length(reps)); k2 <- min(as.integer(args[3]), length(reps))
invisible(lmer(y ~ arm * visit + (1 | id), data = reps[[1]], REML = TRUE))
t1 <- system.time(for (r in reps[1:k1]) lmer(y ~ arm * visit + (1 | id), data = r,
                                               REML = TRUE), gcFirst = FALSE)[["elapsed"]]
fit_tmb <- function(r) suppressWarnings(glmmTMB(y ~ arm * visit + us(0 + visit | id),
  dispformula = ~0, REML = TRUE, data = r))
invisible(fit_tmb(reps[[1]]))
t2 <- system.time(for (r in reps[1:k2]) fit_tmb(r), gcFirst = FALSE)[["elapsed"]]
cat(sprintf("{\"lme4\": %.6f, \"glmmTMB\": %.6f}\n", k1 / t1, k2 / t2))

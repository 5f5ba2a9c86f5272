# The R side of benchmarks/run.py: lme4, emmeans, lmerTest, glmmTMB and nlme on the same data.
# run.py writes the data sets as CSV into a temporary folder and prepends the settings
# (cfg_dir, cfg_min_sample, cfg_trial_reps, ...) before running this file with Rscript; every
# timing is measured inside R and written to cfg_dir/results.tsv.
out <- file(file.path(cfg_dir, "results.tsv"), open = "w")
emit <- function(...) writeLines(paste(..., sep = "\t"), out)
clean <- function(x) gsub("[\t\r\n]+", " ", x)
emit("info", "R", R.version.string)
emit("info", "R_BLAS", clean(extSoftVersion()[["BLAS"]]))
emit("info", "R_LAPACK", clean(La_library()))
pkgs <- c("Matrix", "lme4", "lmerTest", "pbkrtest", "emmeans", "nlme", "glmmTMB", "TMB")
have <- sapply(pkgs, function(p) suppressWarnings(requireNamespace(p, quietly = TRUE)))
for (p in pkgs[have]) emit("info", p, as.character(utils::packageVersion(p)))
for (p in pkgs[!have]) emit("info", p, "not installed")
suppressPackageStartupMessages({
  for (p in pkgs[have]) loadNamespace(p)
})

# Warm up once, then time f() up to `reps` times, each sample `inner` calls long (chosen so a
# sample takes >= cfg_min_sample s: proc.time resolves 1 ms), stopping early past `budget` s.
# `warm` (default f) is the warm-up call; at least `min_reps` samples. Returns f()'s last value.
bench <- function(case, tool, work, f, reps, budget, warm = f, note = "", min_reps = 1) {
  warns <- character()
  run <- function(g) withCallingHandlers(g(), warning = function(w) {
    warns <<- unique(c(warns, clean(conditionMessage(w))))
    invokeRestart("muffleWarning")
  })
  res <- NULL
  t_w <- system.time(res <- run(warm))[["elapsed"]]
  inner <- 1L
  if (identical(warm, f)) inner <- max(1L, as.integer(ceiling(cfg_min_sample / max(t_w, 1e-3))))
  times <- numeric()
  invisible(gc())  # once: a gc() per sample (system.time's default) costs ~0.2 s each
  start <- proc.time()[["elapsed"]]
  repeat {
    t <- system.time(for (i in seq_len(inner)) res <- run(f), gcFirst = FALSE)[["elapsed"]] / inner
    times <- c(times, t)
    used <- proc.time()[["elapsed"]] - start
    if (length(times) >= reps || (length(times) >= min_reps && used + t * inner > budget)) break
  }
  emit("time", case, tool, work, inner, paste(format(times, digits = 8), collapse = ","), note)
  for (w in warns) emit("warn", case, tool, work, w)
  res
}
skip <- function(case, tool, why) emit("skip", case, tool, why)
est <- function(case, tool, what, names, values) {
  for (i in seq_along(values)) {
    emit("est", case, tool, what, names[i], format(values[i], digits = 17))
  }
}

# ---------------------------------------------------------------- trial analysis
for (case in c("trial-10", "trial-12")) {
  d <- read.csv(file.path(cfg_dir, paste0(case, ".csv")))
  d$visit <- factor(d$visit, levels = c("day0", "day1", "day5", "day30", "day120"))
  d$id <- factor(d$id)
  nl <- nlevels(d$visit)
  if (have[["lme4"]]) {
    m <- bench(case, "lme4", "fit",
               function() lme4::lmer(y ~ visit + (1 | id), data = d, REML = TRUE),
               cfg_trial_reps, cfg_trial_budget)
    emit("est", case, "lme4", "neg2_reml", "", format(lme4::REMLcrit(m), digits = 17))
  } else skip(case, "lme4", "lme4 not installed")
  if (have[["lme4"]] && have[["emmeans"]] && have[["pbkrtest"]]) {
    r <- bench(case, "lme4+emmeans", "full", function() {
      m <- lme4::lmer(y ~ visit + (1 | id), data = d, REML = TRUE)
      em <- emmeans::emmeans(m, ~visit, lmer.df = "kenward-roger")
      list(ls = summary(em),
           ct = summary(emmeans::contrast(em, "trt.vs.ctrl", adjust = "none")))
    }, cfg_trial_reps, cfg_trial_budget)
    est(case, "lme4+emmeans", "ls_est", as.character(r$ls$visit), r$ls$emmean)
    est(case, "lme4+emmeans", "ls_se", as.character(r$ls$visit), r$ls$SE)
    est(case, "lme4+emmeans", "ls_df", as.character(r$ls$visit), r$ls$df)
    est(case, "lme4+emmeans", "ct_est", as.character(r$ct$contrast), r$ct$estimate)
    est(case, "lme4+emmeans", "ct_se", as.character(r$ct$contrast), r$ct$SE)
    est(case, "lme4+emmeans", "ct_df", as.character(r$ct$contrast), r$ct$df)
  } else skip(case, "lme4+emmeans", "lme4, emmeans or pbkrtest not installed")
  if (have[["lmerTest"]] && have[["pbkrtest"]]) {
    L <- cbind(0, diag(nl - 1))
    r <- bench(case, "lmerTest", "full", function() {
      m <- lmerTest::lmer(y ~ visit + (1 | id), data = d, REML = TRUE)
      list(ls = lmerTest::ls_means(m, ddf = "Kenward-Roger"),
           ct = lmerTest::contest(m, L, joint = FALSE, ddf = "Kenward-Roger"))
    }, cfg_trial_reps, cfg_trial_budget)
    est(case, "lmerTest", "ls_df", levels(d$visit), r$ls$df)
    est(case, "lmerTest", "ct_df", levels(d$visit)[-1], r$ct$df)
  } else skip(case, "lmerTest", "lmerTest or pbkrtest not installed")
}

# ---------------------------------------------------------------- unstructured MMRM
case <- "mmrm-large"
d <- read.csv(file.path(cfg_dir, "mmrm-large.csv"))
d$visit <- factor(d$visit, levels = paste0("v", 1:6))
d$arm <- factor(d$arm, levels = c("A", "B"))
d$id <- factor(d$id)
ids <- levels(d$id)[seq_len(min(cfg_mmrm_warm_n, nlevels(d$id)))]
dw <- droplevels(d[d$id %in% ids, ])
tmb <- function(dd) glmmTMB::glmmTMB(y ~ arm * visit + us(0 + visit | id), data = dd,
                                     dispformula = ~0, REML = TRUE)
gl <- function(dd) nlme::gls(y ~ arm * visit, data = dd,
                             correlation = nlme::corSymm(form = ~ vnum | id),
                             weights = nlme::varIdent(form = ~ 1 | visit), method = "REML")
wnote <- paste0("warm-up on the first ", length(ids), " subjects")
if (have[["glmmTMB"]]) {
  m <- bench(case, "glmmTMB", "fit", function() tmb(d), cfg_mmrm_reps, cfg_mmrm_budget,
             warm = function() tmb(dw), note = wnote, min_reps = cfg_mmrm_min_reps)
  b <- glmmTMB::fixef(m)$cond
  est(case, "glmmTMB", "beta", names(b), b)
  emit("est", case, "glmmTMB", "neg2_reml", "", format(-2 * as.numeric(logLik(m)), digits = 17))
} else skip(case, "glmmTMB", "glmmTMB not installed")
if (have[["nlme"]]) {
  m <- bench(case, "nlme::gls", "fit", function() gl(d), cfg_mmrm_reps, cfg_mmrm_budget,
             warm = function() gl(dw), note = wnote, min_reps = cfg_mmrm_min_reps)
  b <- coef(m)
  est(case, "nlme::gls", "beta", names(b), b)
  emit("est", case, "nlme::gls", "neg2_reml", "", format(-2 * as.numeric(logLik(m)), digits = 17))
} else skip(case, "nlme::gls", "nlme not installed")

# ---------------------------------------------------------------- random intercept, mid-size
case <- "ri-mid"
d <- read.csv(file.path(cfg_dir, "ri-mid.csv"))
d$visit <- factor(d$visit, levels = paste0("t", 1:5))
d$id <- factor(d$id)
if (have[["lme4"]]) {
  m <- bench(case, "lme4", "fit",
             function() lme4::lmer(y ~ visit + (1 | id), data = d, REML = TRUE),
             cfg_mid_reps, cfg_mid_budget)
  b <- lme4::fixef(m)
  est(case, "lme4", "beta", names(b), b)
  emit("est", case, "lme4", "neg2_reml", "", format(lme4::REMLcrit(m), digits = 17))
} else skip(case, "lme4", "lme4 not installed")
close(out)

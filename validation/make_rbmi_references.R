# make_rbmi_references.R -- R rbmi reference values for reference-based multiple imputation
# (MAR / JR / CR / CIR / LMCF, delta adjustment, bootstrap, BMLMI, approximate Bayes).
#
# How to run (from the repository root):
#     Rscript validation/make_rbmi_references.R
#
# Reads ../shared/reference/rbmi/antidepressant_data.csv in place (rbmi's public example data;
# never copied into this repository) and checks itself against the MAR and JR results of
# ../shared/reference/rbmi/rbmi_condmean_jackknife.json before writing
# tests/data/rbmi_references.json (pretty JSON, 15 significant digits).
#
# Needs R 4.2.2 with rbmi built from its public source (openpharma/rbmi 1.6.0.9000) and its
# Debian dependencies: apt-get install -y r-cran-jinjar r-cran-r6 r-cran-assertthat r-cran-fs
# r-cran-pkgload r-cran-stringr r-cran-lifecycle r-cran-matrix r-cran-jsonlite, plus mmrm 0.3.18;
# then R CMD INSTALL <rbmi source>. Runs in a few minutes on one core (the jackknife runs fit
# 1 + 172 MMRMs each; bootstrap 201, BMLMI 100, approximate Bayes 200).
#
# Setup (identical to rbmi's quickstart / CondMean_Inference vignettes):
#   * expand_locf to one row per PATIENT x VISIT (visits 4, 5, 6, 7), BASVAL / THERAPY / GENDER
#     filled by LOCF within PATIENT;
#   * ICE = first visit with missing CHANGE per patient, except patient 3618 (intermittent
#     missing, not in data_ice, so imputed under MAR);
#   * imputation model CHANGE ~ BASVAL*VISIT + THERAPY*VISIT, common ("same_cov") unstructured
#     covariance, REML;  references c(DRUG = "PLACEBO", PLACEBO = "PLACEBO");
#   * analysis: rbmi::ancova per visit, CHANGE ~ THERAPY + BASVAL, default lsmeans weights.
# THERAPY's factor levels are c("DRUG", "PLACEBO") (alphabetical, as in rbmi's data set), so
# "ref" = DRUG, "alt" = PLACEBO and trt_<visit> = PLACEBO - DRUG.
#
# Random methods: set.seed(1) (default RNG kinds) immediately before draws(); draws(), impute()
# then consume the stream in that order (analyse() and pool() use no random numbers).

suppressPackageStartupMessages({
  library(rbmi)
  library(jsonlite)
})

# rbmi's imputation-model fits polished to the REML optimum (rbmi_polish.R; RBMI_POLISH=0:
# rbmi as shipped, which reproduces ../shared/reference/rbmi/rbmi_condmean_jackknife.json to
# 1e-8).
source(file.path("validation", "rbmi_polish.R"))

data_file <- file.path("..", "shared", "reference", "rbmi", "antidepressant_data.csv")
ref_file <- file.path("..", "shared", "reference", "rbmi", "rbmi_condmean_jackknife.json")
out_file <- file.path("tests", "data", "rbmi_references.json")
# commit of the openpharma/rbmi source snapshot that was installed (for the record only)
rbmi_commit <- Sys.getenv("RBMI_COMMIT", "5961fa0740d6deb9384ec6bf1041b8bc81686209")

stopifnot(file.exists(data_file), file.exists(ref_file))

# ---------------------------------------------------------------------------------------------
# data and ICEs
# ---------------------------------------------------------------------------------------------
raw <- read.csv(
  data_file,
  colClasses = c(PATIENT = "character", VISIT = "character", THERAPY = "character",
                 GENDER = "character", POOLINV = "character")
)
raw$PATIENT <- factor(raw$PATIENT)
raw$VISIT <- factor(raw$VISIT, levels = c("4", "5", "6", "7"))
raw$THERAPY <- factor(raw$THERAPY)          # levels "DRUG", "PLACEBO"
raw$GENDER <- factor(raw$GENDER)            # levels "F", "M"
stopifnot(identical(levels(raw$THERAPY), c("DRUG", "PLACEBO")))

# the CSV must be rbmi's own antidepressant_data
ad <- as.data.frame(rbmi::antidepressant_data)
stopifnot(
  nrow(ad) == nrow(raw),
  identical(as.character(ad$PATIENT), as.character(raw$PATIENT)),
  identical(as.character(ad$VISIT), as.character(raw$VISIT)),
  identical(as.character(ad$THERAPY), as.character(raw$THERAPY)),
  isTRUE(all.equal(as.numeric(ad$CHANGE), as.numeric(raw$CHANGE))),
  isTRUE(all.equal(as.numeric(ad$BASVAL), as.numeric(raw$BASVAL)))
)

dat <- expand_locf(
  raw,
  PATIENT = levels(raw$PATIENT),
  VISIT = levels(raw$VISIT),
  vars = c("BASVAL", "THERAPY", "GENDER"),
  group = c("PATIENT"),
  order = c("PATIENT", "VISIT")
)
stopifnot(nrow(dat) == nlevels(raw$PATIENT) * 4)

miss <- dat[is.na(dat$CHANGE), c("PATIENT", "VISIT")]
miss <- miss[order(miss$PATIENT, miss$VISIT), ]
ice <- miss[!duplicated(miss$PATIENT), ]
ice <- ice[ice$PATIENT != "3618", ]
rownames(ice) <- NULL

ref_json <- fromJSON(ref_file, simplifyVector = TRUE)
stopifnot(
  identical(as.character(ice$PATIENT), as.character(ref_json$ice$PATIENT)),
  identical(as.character(ice$VISIT), as.character(ref_json$ice$VISIT))
)

# any observed values after the ICE visit?  (they would be dropped from the imputation-model fit
# under non-MAR strategies)
post_ice_obs <- merge(dat, setNames(ice, c("PATIENT", "ICE_VISIT")), by = "PATIENT")
post_ice_obs <- post_ice_obs[as.integer(post_ice_obs$VISIT) >= as.integer(post_ice_obs$ICE_VISIT) &
                               !is.na(post_ice_obs$CHANGE), ]
cat(sprintf("observed CHANGE values at/after the ICE visit: %d\n", nrow(post_ice_obs)))

references <- c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO")
cov_imp_main <- c("BASVAL*VISIT", "THERAPY*VISIT")

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
run_rbmi <- function(method, strategy, cov_imp = cov_imp_main, cov_an = "BASVAL",
                     delta_fun = NULL, pool_types = "percentile", seed = NULL,
                     weights = NULL) {
  dat_ice <- ice
  dat_ice$strategy <- strategy
  vars <- set_vars(
    outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
    covariates = cov_imp, strategy = "strategy"
  )
  if (!is.null(seed)) set.seed(seed)
  t0 <- proc.time()[["elapsed"]]
  dr <- draws(data = dat, data_ice = dat_ice, vars = vars, method = method, quiet = TRUE)
  im <- impute(dr, references = references)
  vars_an <- set_vars(group = "THERAPY", visit = "VISIT", outcome = "CHANGE", covariates = cov_an)
  delta <- if (is.null(delta_fun)) NULL else delta_fun(im)
  an <- if (is.null(weights)) {
    analyse(im, ancova, delta = delta, vars = vars_an)
  } else {
    analyse(im, ancova, delta = delta, vars = vars_an, weights = weights)
  }
  pools <- lapply(pool_types, function(tp) pool(an, type = tp))
  names(pools) <- pool_types
  cat(sprintf("  %-12s %-5s %6.1f s\n", class(method)[2], strategy,
              proc.time()[["elapsed"]] - t0))
  list(draws = dr, imputations = im, analysis = an, delta = delta, pools = pools,
       n_failures = dr$n_failures, vars_an = vars_an)
}

pool_records <- function(p) {
  df <- as.data.frame(p)
  dfs <- vapply(p$pars, function(x) if (is.null(x$df)) NA_real_ else as.numeric(x$df), numeric(1))
  recs <- lapply(seq_len(nrow(df)), function(i) {
    r <- list(parameter = df$parameter[i], est = df$est[i], se = df$se[i],
              lci = df$lci[i], uci = df$uci[i], pval = df$pval[i])
    if (!is.na(dfs[i])) r$df <- unname(dfs[i])
    r
  })
  recs
}

max_abs_diff <- function(p, ref_df) {
  df <- as.data.frame(p)
  m <- match(ref_df$parameter, df$parameter)
  stopifnot(!anyNA(m))
  cols <- c("est", "se", "lci", "uci", "pval")
  max(abs(as.matrix(df[m, cols]) - as.matrix(ref_df[, cols])))
}

# ---------------------------------------------------------------------------------------------
# a) condmean jackknife under each strategy
# ---------------------------------------------------------------------------------------------
cat("condmean jackknife:\n")
strategies <- c("MAR", "JR", "CR", "CIR", "LMCF")
jk <- lapply(strategies, function(s) run_rbmi(method_condmean(type = "jackknife"), s))
names(jk) <- strategies

for (s in c("MAR", "JR")) {
  d <- max_abs_diff(jk[[s]]$pools$percentile, ref_json$results[[s]])
  cat(sprintf("max abs diff vs rbmi_condmean_jackknife.json (%s): %.3g\n", s, d))
  stopifnot(d < if (polish) 2e-4 else 1e-8)
}

# ---------------------------------------------------------------------------------------------
# b) delta adjustment: +1.5 to every imputed (is_missing) value in the DRUG arm, every visit
# ---------------------------------------------------------------------------------------------
delta_drug <- function(im) {
  dt <- delta_template(im)
  dt$delta <- ifelse(dt$is_missing & dt$THERAPY == "DRUG", 1.5, 0)
  dt
}
cat("condmean jackknife + delta:\n")
dl <- list(
  JR = run_rbmi(method_condmean(type = "jackknife"), "JR", delta_fun = delta_drug),
  MAR = run_rbmi(method_condmean(type = "jackknife"), "MAR", delta_fun = delta_drug)
)
nonzero_delta <- function(dt) {
  dt <- dt[dt$delta != 0, c("PATIENT", "VISIT", "THERAPY", "delta")]
  dt[order(dt$PATIENT, dt$VISIT), ]
}
delta_rows <- function(dt) {
  dt <- nonzero_delta(dt)
  lapply(seq_len(nrow(dt)), function(i) list(
    PATIENT = as.character(dt$PATIENT[i]), VISIT = as.character(dt$VISIT[i]),
    THERAPY = as.character(dt$THERAPY[i]), delta = dt$delta[i]
  ))
}
# the rows with a non-zero delta are the same under JR and MAR (is_missing does not depend on it)
stopifnot(identical(delta_rows(dl$JR$delta), delta_rows(dl$MAR$delta)))
cat(sprintf("non-zero delta rows: %d\n", nrow(nonzero_delta(dl$JR$delta))))

# ---------------------------------------------------------------------------------------------
# c) condmean bootstrap, d) BMLMI, e) approximate Bayes -- all under JR, set.seed(1)
# ---------------------------------------------------------------------------------------------
cat("random methods (JR):\n")
bs <- run_rbmi(method_condmean(type = "bootstrap", n_samples = 200), "JR",
               pool_types = c("percentile", "normal"), seed = 1)
bm <- run_rbmi(method_bmlmi(B = 100, D = 2), "JR", seed = 1)
ab <- run_rbmi(method_approxbayes(n_samples = 200), "JR", seed = 1)

# ---------------------------------------------------------------------------------------------
# f) MAR condmean jackknife with the subject-level factor GENDER
# ---------------------------------------------------------------------------------------------
cat("condmean jackknife MAR + GENDER:\n")
gd <- run_rbmi(method_condmean(type = "jackknife"), "MAR",
               cov_imp = c(cov_imp_main, "GENDER"), cov_an = c("BASVAL", "GENDER"))
# the same imputations analysed with the other lsmeans weightings, for comparison
gd_w <- lapply(c("equal", "proportional_em"), function(w) {
  an <- analyse(gd$imputations, ancova, vars = gd$vars_an, weights = w)
  pool(an)
})
names(gd_w) <- c("equal", "proportional_em")

# ---------------------------------------------------------------------------------------------
# write JSON
# ---------------------------------------------------------------------------------------------
pv <- function(p) as.character(packageVersion(p))
source_str <- sprintf(paste(
  "R rbmi %s (openpharma/rbmi, built from source, commit %s) with mmrm %s, TMB %s, Matrix %s,",
  "jsonlite %s, %s; RNG %s; %s"),
  pv("rbmi"), rbmi_commit, pv("mmrm"), pv("TMB"), pv("Matrix"), pv("jsonlite"),
  R.version.string, paste(RNGkind(), collapse = "/"),
  if (polish) paste("imputation-model fits polished to the REML optimum (mmrm nlminb at the",
                    "tightest rel.tol of 1e-15 ... 1e-10 that converges)")
  else "rbmi's fits as shipped (mmrm's default optimiser settings)")

setup_str <- paste(
  "rbmi quickstart/CondMean_Inference vignette setup on antidepressant_data.csv: expand_locf to one",
  "row per PATIENT x VISIT (visits 4,5,6,7; BASVAL, THERAPY, GENDER filled by LOCF within PATIENT);",
  "ICE = first visit with missing CHANGE for each patient, except patient 3618 (intermittent missing,",
  "not in data_ice, hence MAR); every ICE row gets the strategy named in the result key;",
  "imputation model CHANGE ~ BASVAL*VISIT + THERAPY*VISIT with a common unstructured covariance",
  "(same_cov=TRUE, REML=TRUE); references DRUG->PLACEBO, PLACEBO->PLACEBO; analysis rbmi::ancova per",
  "visit CHANGE ~ THERAPY + BASVAL with the default weights ('counterfactual'); THERAPY levels are",
  "(DRUG, PLACEBO) so lsm_ref = DRUG, lsm_alt = PLACEBO, trt = PLACEBO - DRUG; pool() with",
  "conf.level 0.95, two-sided. Random methods: set.seed(1) right before draws()."
)

delta_rule <- paste(
  "rbmi applies delta in analyse() (R/analyse.R: analyse -> extract_imputed_dfs ->",
  "extract_imputed_df -> apply_delta in R/delta.R) to every imputed data set (the full-data one",
  "and every jackknife / bootstrap sample) before the analysis function: the delta data.frame is",
  "merged (left join) onto the imputed data by (original subject id, visit) -- sample data sets",
  "carry re-coded ids ('new_pt_i'), which are mapped back to the original id via idmap, so a",
  "subject drawn twice in a bootstrap sample gets its delta on both copies and a left-out subject",
  "simply gets none -- unmatched rows get delta 0 and outcome <- outcome + delta on ALL matched rows",
  "(apply_delta does not itself restrict to imputed values; restriction comes only from which rows",
  "carry a non-zero delta). Here delta = delta_template(imputations) with delta set to 1.5 where",
  "is_missing is TRUE (originally missing, i.e. imputed, values -- including 3618's intermittent",
  "MAR one and irrespective of strategy) and THERAPY == 'DRUG', 0 elsewhere; the rows are listed",
  "in delta_rows. delta_template(delta=, dlag=) would instead build cumulative deltas over",
  "post-ICE visits (d_lagscale: cumsum(dlag * delta[is_post_ice]) assigned to the post-ICE",
  "visits) and, with missing_only=TRUE, zero them for observed post-ICE values; that helper is",
  "not used here. The imputation model and the imputed values are unaffected by delta; the",
  "jackknife SE is computed from the delta-shifted analyses."
)

weights_str <- paste(
  "rbmi::ancova(weights = 'counterfactual') is the default in rbmi", pv("rbmi"),
  "(choices counterfactual, equal, proportional_em, proportional [alias of counterfactual]).",
  "counterfactual: lsm for arm g = colMeans(model.matrix of the per-visit lm with THERAPY set to g",
  "for every subject, all other covariates at their observed values) %*% beta; se from",
  "sqrt(L' V L). equal: numeric covariates at their mean, every level combination of factor",
  "covariates weighted equally. proportional_em: factor combinations weighted by their observed",
  "frequency (emmeans weights='proportional'). With BASVAL as the only covariate all three agree;",
  "with GENDER they differ (see condmean_jackknife_gender)."
)

post_ice_str <- paste(
  "longDataConstructor$set_strategies (R/longData.R): for a non-MAR strategy is_mar[[id]] =",
  "seq_along(visits) < ICE visit index (MAR strategy: all TRUE). get_mmrm_sample (R/draws.R) fits",
  "the imputation MMRM on longdata$get_data(ids, mnar.rm = TRUE, na.rm = TRUE), i.e. observed",
  "values at or after the ICE visit of a subject with a non-MAR strategy are REMOVED from the",
  "imputation-model fit (for MAR strategies they are kept). In impute (impute_data_individual) only",
  "is_missing values are imputed; observed post-ICE values are kept as data and conditioned on in",
  "get_conditional_parameters, using the strategy-modified (mu, Sigma). In this data set",
  sprintf("there are %d observed values at/after an ICE visit, so MAR and non-MAR fits coincide.",
          nrow(post_ice_obs))
)

strategy_str <- paste(
  "R/strategies.R, per subject with mu_g / Sigma_g its own arm's and mu_r / Sigma_r the reference",
  "arm's marginal mean and covariance at its covariates, t* = last visit before the ICE (index_mar",
  "TRUE up to t*): MAR: (mu_g, Sigma_g). CR: (mu_r, Sigma_r). JR: mu = mu_g before, mu_r from the",
  "ICE on; CIR: mu_t = mu_g[t*] + (mu_r[t] - mu_r[t*]) for t > t*; JR and CIR use compute_sigma",
  "(Carpenter et al. 2013): S11 = Sigma_g[pre,pre], S21 = R21 R11^-1 S11, S22 = R22 - R21 R11^-1",
  "(R11 - S11) R11^-1 R12 with R = Sigma_r (returns Sigma_g if equal to Sigma_r, Sigma_r if no",
  "pre-ICE visit); LMCF: mu_t = mu_g[t*] for t > t*, Sigma = Sigma_g (error if no pre-ICE visit).",
  "Here Sigma_g = Sigma_r (same_cov) so JR/CIR/LMCF covariance is Sigma_g."
)

res_block <- function(r, pool_type = "percentile") pool_records(r$pools[[pool_type]])

out <- list(
  source = source_str,
  data = "../shared/reference/rbmi/antidepressant_data.csv (rbmi's antidepressant_data: HAMD17, DRUG vs PLACEBO, visits 4-7, 172 patients)",
  setup = setup_str,
  ice = lapply(seq_len(nrow(ice)), function(i)
    list(PATIENT = as.character(ice$PATIENT[i]), VISIT = as.character(ice$VISIT[i]))),
  ancova_weights = weights_str,
  post_ice_data = post_ice_str,
  strategy_formulas = strategy_str,
  delta_rule = delta_rule,
  condmean_jackknife = list(
    description = "method_condmean(type='jackknife'); pool() jackknife: se = sqrt((n-1)/n * sum((theta_-i - mean)^2)), normal CI/p-value; est from the full data",
    results = lapply(jk, res_block)
  ),
  condmean_jackknife_delta = list(
    description = "as condmean_jackknife, analyse(..., delta = delta_rows) with +1.5 on every imputed DRUG value",
    delta_rows = delta_rows(dl$JR$delta),
    results = list(JR = res_block(dl$JR), MAR = res_block(dl$MAR))
  ),
  condmean_bootstrap_JR = list(
    method = "method_condmean(type='bootstrap', n_samples=200), strategy JR, set.seed(1) before draws()",
    n_samples = 200L,
    n_failures = bs$n_failures,
    note = "percentile: CI = quantile(type=6) of the 200 bootstrap estimates, p from the percentile inversion, se is NA (null); normal: se = sd of bootstrap estimates, est = full-data estimate, normal CI / p",
    percentile = res_block(bs, "percentile"),
    normal = res_block(bs, "normal")
  ),
  bmlmi_JR = list(
    method = "method_bmlmi(B=100, D=2), strategy JR, set.seed(1) before draws(); pool() von Hippel & Bartlett",
    B = 100L, D = 2L,
    n_failures = bm$n_failures,
    pool = "bmlmi",
    results = res_block(bm)
  ),
  approxbayes_JR = list(
    method = "method_approxbayes(n_samples=200), strategy JR, set.seed(1) before draws(); pool() Rubin's rules",
    n_samples = 200L,
    n_failures = ab$n_failures,
    pool = "rubin",
    results = res_block(ab)
  ),
  condmean_jackknife_gender = list(
    description = paste(
      "MAR condmean jackknife; imputation model CHANGE ~ BASVAL*VISIT + THERAPY*VISIT + GENDER;",
      "analysis covariates c('BASVAL','GENDER'); 'counterfactual' = default ancova weights; the other",
      "two analyse the same imputations with ancova(weights = 'equal' / 'proportional_em')"),
    gender_levels = levels(dat$GENDER),
    counterfactual = res_block(gd),
    equal = pool_records(gd_w$equal),
    proportional_em = pool_records(gd_w$proportional_em)
  )
)

out$polish <- if (polish) as.list(polish_tally) else "off"
cat("polished fits by nlminb rel.tol:", paste(names(out$polish), unlist(out$polish), collapse = ", "),
    "\n")
dir.create(dirname(out_file), recursive = TRUE, showWarnings = FALSE)
json <- toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE, na = "null", null = "null")
writeLines(json, out_file)
cat("wrote", out_file, "\n")

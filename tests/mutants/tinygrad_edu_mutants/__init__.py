"""tinygrad-edu-mutants: a third-party distribution of realistic wrong components, each next to
its correct sibling, installed as entry points on a path (the ``*.dist-info`` folder beside
this package). tests/test_mutants.py runs ``tinygrad-edu check --plugin tinygrad-edu-mutants``
over it: every mutant must be rejected by the check named here, every sibling must pass.

MUTANTS: mutant name -> (correct sibling, the bug, the check that rejects it). docs/plugins.md
lists the same bugs as the catalogue of what the conformance suite guarantees to catch.
"""

MUTANTS = {
    # activations
    "bad_softplus_sign": ("ok_softplus", "sign error in a hand-written backward", "gradient"),
    "bad_softplus_float64_grad": ("ok_softplus", "float64 gradient from a float32 input",
                                  "dtype"),
    "bad_softplus_float64_forward": ("ok_softplus", "float64 output from a float32 input",
                                     "dtype"),
    "bad_softplus_no_return": ("ok_softplus", "backward computes the gradient but returns None",
                               "gradients"),
    "bad_softplus_ndarray": ("ok_softplus", "returns a numpy array, not a Tensor", "output"),
    "bad_leaky_relu_inplace": ("ok_leaky_relu", "forward overwrites its input",
                               "inputs unchanged"),
    "bad_leaky_relu_backward_inplace": ("ok_leaky_relu", "backward overwrites the saved input",
                                        "inputs unchanged"),
    "bad_leaky_relu_kink": ("ok_leaky_relu", "wrong slope on one side of a kink", "gradient"),
    "bad_softmax_overflow": ("ok_softmax", "softmax without max-subtraction overflows",
                             "large inputs"),
    "bad_softmax_last_axis": ("ok_softmax", "ignores its axis argument (forward and backward "
                              "agree)", "reference values"),
    "bad_elu_numpy_backward": ("ok_elu", "numpy backward declared second-order differentiable",
                               "second-order gradient"),
    # losses
    "bad_mse_sum": ("ok_mse", "sum over the batch instead of the mean", "reduction"),
    "bad_mse_float64": ("ok_mse", "float64 target promotes a float32 loss", "dtype"),
    "bad_mse_overwrites_target": ("ok_mse", "writes into the caller's target array",
                                  "inputs unchanged"),
    "bad_cross_entropy_overflow": ("ok_cross_entropy", "log-softmax without max-subtraction",
                                   "large inputs"),
    "bad_cross_entropy_sum": ("ok_cross_entropy", "sum over the batch (forward and backward)",
                              "reduction"),
    "bad_cross_entropy_grad_not_divided": ("ok_cross_entropy", "backward forgets the 1/N",
                                           "gradient"),
    "bad_cross_entropy_mean_over_classes": ("ok_cross_entropy", "mean over N*C elements, not "
                                            "over the batch", "reference values"),
    # layers
    "BadDenseTransposedWeightGrad": ("OkDense", "transposed weight gradient",
                                     "outputs and gradients"),
    "BadDenseMissingBiasGrad": ("OkDense", "missing bias gradient (None)", "gradients"),
    "BadDenseBiasGradFirstSample": ("OkDense", "bias gradient not summed over the batch",
                                    "gradient"),
    "BadDenseFloat64WeightGrad": ("OkDense", "float64 weight gradient in a float32 layer",
                                  "dtype"),
    "BadDenseInputGradUntransposed": ("OkDense", "input gradient g W instead of g W^T",
                                      "outputs and gradients"),
    "BadDensePlainTensorWeight": ("OkDense", "weight as a plain Tensor, not a Parameter",
                                  "registered parameters"),
    "BadDenseNormalisesWeightInForward": ("OkDense", "forward rescales its weight in place",
                                          "inputs unchanged"),
    "BadMaxPoolBackwardOffByOne": ("OkMaxPool", "off-by-one window count in pooling backward",
                                   "gradient"),
    "BadMaxPoolFloat64Grad": ("OkMaxPool", "np.zeros(shape) (float64) gradient buffer",
                              "dtype"),
    "BadAvgPoolNoDivide": ("OkAvgPool", "average pooling backward forgets 1/k^2", "gradient"),
    "BadCenterInPlace": ("OkCenter", "forward centres the caller's array in place",
                         "inputs unchanged"),
    "BadScaleFrozen": ("OkScale", "Parameter created with requires_grad=False", "gradients"),
    "BadDropoutBackwardUnscaled": ("OkDropout", "dropout backward forgets 1/(1-p)",
                                   "gradient"),
    # optimizers
    "BadMomentumNeverDecayed": ("OkMomentum", "velocity never decayed (first step right)",
                                "trajectory"),
    "BadMomentumStateOutside": ("OkMomentum", "state kept outside `state` (lost by "
                                "state_dict)", "trajectory"),
    "BadMomentumSkipsZeroGradient": ("OkMomentum", "skips a zero gradient although the "
                                     "velocity still moves", "trajectory"),
    "BadMomentumLrAtConstruction": ("OkMomentum", "lr read once at construction (schedules "
                                    "ignored)", "first step"),
    "BadMomentumOutOfPlace": ("OkMomentum", "parameter replaced, not updated in place",
                              "in-place update"),
    "BadMomentumIgnoresWeightDecay": ("OkMomentum", "declared weight decay never applied",
                                      "first step"),
    "BadAdamStepNeverAdvanced": ("OkAdam", "step counter never advanced", "trajectory"),
    "BadAdamNoBiasCorrection": ("OkAdam", "bias correction missing", "first step"),
    "BadAdamBiasCorrectsOnlyM": ("OkAdam", "bias correction of m only", "first step"),
    "BadAdamGlobalStepCounter": ("OkAdam", "one global step count for parameters that skip "
                                 "steps", "trajectory"),
    "BadAdamFloat64State": ("OkAdam", "float64 moments for float32 parameters", "dtype"),
    "BadRMSpropSwappedDecay": ("OkRMSprop", "rho and 1 - rho swapped", "first step"),
    "BadRMSpropEpsInsideSqrt": ("OkRMSprop", "eps inside the square root (not the declared "
                                "formula)", "first step"),
    "BadAdaGradModifiesGradient": ("OkAdaGrad", "divides the gradient array in place",
                                   "gradient untouched"),
    # initializers
    "bad_he_uses_fan_out": ("ok_he_normal", "fan_out where the formula uses fan_in",
                            "distribution"),
    "bad_he_fan_from_shape": ("ok_he_normal", "fan recomputed from the shape (shape[0]), the "
                              "given fan ignored", "distribution"),
    "bad_he_always_float64": ("ok_he_normal", "dtype argument ignored (float64)",
                              "shape, dtype and seed"),
    "bad_he_global_random": ("ok_he_normal", "np.random instead of the rng argument",
                             "shape, dtype and seed"),
    "bad_he_variance_as_std": ("ok_he_normal", "variance used as the standard deviation",
                               "distribution"),
    "bad_he_transposed": ("ok_he_normal", "transposed shape", "shape, dtype and seed"),
    "bad_he_uniform_not_centred": ("ok_he_uniform", "U(0, 2b) instead of U(-b, b): right "
                                   "spread, not centred", "distribution"),
    "bad_he_uniform_std_as_bound": ("ok_he_uniform", "std used as the uniform bound",
                                    "distribution"),
}

# Every SPIR-V variant the library embeds. Names are "<family>/<kernel>_<io dtype>[_<variant>]";
# the host code of each family builds the same names (src/ops/<family>/*.c).
#   io dtype:  f32 | f16 (DVK_IO_F16: token tensors stored as fp16)
#   sg | sh:   reductions with subgroup shuffles | with shared memory

set(DVK_IO_TYPES f32 f16)
if(NOT DVK_GLSLC_HAS_FLOAT16_STORAGE)
  set(DVK_IO_TYPES f32)
endif()
set(DVK_REDUCTIONS sh)
if(DVK_GLSLC_HAS_SUBGROUP_SHUFFLE)
  list(APPEND DVK_REDUCTIONS sg)
endif()

foreach(io ${DVK_IO_TYPES})
  set(io_defs)
  if(io STREQUAL "f16")
    set(io_defs DVK_IO_F16=1)
  endif()
  foreach(red ${DVK_REDUCTIONS})
    set(red_defs)
    if(red STREQUAL "sg")
      set(red_defs DVK_SUBGROUP_REDUCE=1)
    endif()
    dvk_shader(delta_rule/recurrent_${io}_${red} delta_rule/recurrent.comp
               DEFINES ${io_defs} ${red_defs})
  endforeach()
  # The decode step (one token), and the chunked form (WY representation): three stages and
  # an L2-norm pre-pass.
  foreach(stage decode sum_tiles chunk_prepare chunk_state chunk_output l2norm)
    dvk_shader(delta_rule/${stage}_${io} delta_rule/${stage}.comp DEFINES ${io_defs})
  endforeach()
  # The chunked stages on cooperative matrices (tensor cores), fp16 only.
  if(io STREQUAL "f16" AND DVK_GLSLC_HAS_COOPMAT_NV)
    foreach(stage chunk_prepare chunk_state chunk_output)
      dvk_shader(delta_rule/${stage}_cm_${io} delta_rule/${stage}_cm.comp NO_OPT DEFINES ${io_defs})
    endforeach()
  endif()
endforeach()

# KDA and the generalized (DPLR) delta rule, chunked with a decay per key channel: a cumulative
# gate pass and three stages (the key read-out has its own output stage). fp32 FMA kernels for
# both io dtypes, and KDA's stages on tensor cores for fp16.
foreach(io ${DVK_IO_TYPES})
  set(io_defs)
  if(io STREQUAL "f16")
    set(io_defs DVK_IO_F16=1)
  endif()
  foreach(stage gate_cumsum chunk_prepare chunk_state chunk_output chunk_output_key)
    dvk_shader(dplr/${stage}_${io} dplr/${stage}.comp DEFINES ${io_defs})
  endforeach()
  # KDA's and RWKV-7's three stages on cooperative matrices (tensor cores), fp16 only.
  if(io STREQUAL "f16" AND DVK_GLSLC_HAS_COOPMAT_NV)
    foreach(stage chunk_prepare chunk_state chunk_output)
      dvk_shader(dplr/${stage}_cm_${io} dplr/${stage}_cm.comp NO_OPT DEFINES ${io_defs})
    endforeach()
  endif()
endforeach()

# Linear attention (token by token, and chunked: the state pass and the output pass), causal
# softmax attention inside segments, the rotary embedding, and Infini-attention's retrieval.
foreach(io ${DVK_IO_TYPES})
  set(io_defs)
  if(io STREQUAL "f16")
    set(io_defs DVK_IO_F16=1)
  endif()
  foreach(red ${DVK_REDUCTIONS})
    set(red_defs)
    if(red STREQUAL "sg")
      set(red_defs DVK_SUBGROUP_REDUCE=1)
    endif()
    dvk_shader(linear_attn/recurrent_${io}_${red} linear_attn/recurrent.comp
               DEFINES ${io_defs} ${red_defs})
  endforeach()
  foreach(stage normalizer chunk_rho chunk_state chunk_output)
    dvk_shader(linear_attn/${stage}_${io} linear_attn/${stage}.comp DEFINES ${io_defs})
  endforeach()
  if(io STREQUAL "f16" AND DVK_GLSLC_HAS_COOPMAT_NV)
    dvk_shader(linear_attn/chunk_output_cm_${io} linear_attn/chunk_output_cm.comp NO_OPT
               DEFINES ${io_defs})
  endif()
  dvk_shader(softmax_attn/softmax_attn_${io} softmax_attn/softmax_attn.comp DEFINES ${io_defs})
  dvk_shader(rope/rope_${io} rope/rope.comp DEFINES ${io_defs})
  dvk_shader(infini_attn/retrieve_${io} infini_attn/retrieve.comp DEFINES ${io_defs})
endforeach()
